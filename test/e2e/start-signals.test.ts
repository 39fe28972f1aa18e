// SIGTERM at each step of start-up: from the first moment to the last it means the orderly
// stop — exit 0, "stopped" logged, every process the sidecar started gone — never death by the
// signal (which would lose the buffered log lines and leave what it started running).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { allPids, cmdline, groupMembers, pgidOf } from "../../src/agent/proc.js";
import { cleanUpAfterEach, startStore } from "../support/e2e.js";
import { AGENTS_DIR, standinProcesses, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { Sidecar } from "../support/sidecar.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

const SLOW_VERSION = join(AGENTS_DIR, "slow-version.sh");

/** The version probe's process group, while it runs: its wrapper shell asked `--version`. */
function probeGroup(): number | undefined {
  const pid = allPids().find((p) => {
    const argv = cmdline(p);
    return argv?.[1] === SLOW_VERSION && argv[2] === "--version";
  });
  return pid === undefined ? undefined : pgidOf(pid);
}

const STEPS: [string, (sc: Sidecar) => boolean][] = [
  [
    "while it asks the agent its version (a wrapper slow to answer)",
    () => probeGroup() !== undefined,
  ],
  ["once its API listens", (sc) => sc.logs().some((l) => l.event === "listening")],
  ["once the agent was started", (sc) => sc.logs().some((l) => l.event === "agent_started")],
  ["once it is started", (sc) => sc.logs().some((l) => l.event === "started")],
];

describe("a stop asked for during start-up", () => {
  it.each(STEPS)("%s: exit 0, stopped logged, nothing left", async (_, reached) => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const store = await startStore();
    await writeRelation(relation, plaintext(store.address));
    const sc = Sidecar.launch([
      ...["--relation", relation, "--agent", SLOW_VERSION, "--state-dir", join(dir, "state")],
      ...["--debounce-ms", "20", "--", "--node=start-signals"],
    ]);
    let probe: number | undefined;
    try {
      await waitFor("the step", () => {
        if (sc.exitCode !== null) throw new Error(`exited ${sc.exitCode}: ${sc.text()}`);
        probe ??= probeGroup();
        return reached(sc);
      });
      sc.child.kill("SIGTERM");
      const code = await sc.exited;
      expect(sc.child.signalCode).toBeNull();
      expect(code).toBe(0);
      const events = sc.logs().map((l) => l.event);
      expect(events).toContain("shutdown");
      expect(events.at(-1)).toBe("stopped");
      expect(standinProcesses()).toEqual([]);
      if (probe !== undefined) expect(groupMembers(probe)).toEqual([]);
    } finally {
      sc.child.kill("SIGKILL");
    }
  });
});
