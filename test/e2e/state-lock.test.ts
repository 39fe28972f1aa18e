// One sidecar per state dir: a second `run` on it exits 1 before touching anything, naming the
// holder; a SIGKILLed holder never blocks its successor; shutdown never crashes.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { spawnCli } from "../support/cli.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { recordedStarts, standinProcesses, standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

describe("one sidecar per state dir", () => {
  it("a second run exits 1 naming the holder, its agent untouched; after a SIGKILL the next one starts", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const state = join(dir, "state");
    const record = join(dir, "starts.jsonl");
    const store = await startStore();
    await writeRelation(relation, plaintext(store.address));
    const first = await startSidecar(standinRun(relation, state), { STANDIN_RECORD: record });
    await first.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("the agent's start", () => recordedStarts(record).length === 1);
    const pidfile = readFileSync(join(state, "agent.pid"), "utf8");
    const agents = standinProcesses().map((p) => p.pid);

    const second = await spawnCli(
      ["run", ...standinRun(relation, state), "--listen", "127.0.0.1:0"],
      {
        STANDIN_RECORD: record,
      },
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`in use by another sidecar (pid ${first.child.pid})`);
    // Nothing of the first was touched: its agent, its pidfile, no second start.
    expect(standinProcesses().map((p) => p.pid)).toEqual(agents);
    expect(readFileSync(join(state, "agent.pid"), "utf8")).toBe(pidfile);
    expect(recordedStarts(record)).toHaveLength(1);

    await first.kill();
    const third = await startSidecar(standinRun(relation, state), { STANDIN_RECORD: record });
    await third.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("exactly one agent again", () => standinProcesses().length === 2);
  });

  it("SIGTERM exits 0 and removes what it owns", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const state = join(dir, "state");
    const store = await startStore();
    await writeRelation(relation, plaintext(store.address));
    const sc = await startSidecar(standinRun(relation, state));
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(await sc.stop()).toBe(0);
    expect(existsSync(join(state, "agent.pid"))).toBe(false);
  });
});
