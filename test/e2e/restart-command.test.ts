// External restarts that retry and never wedge: a failed restart command is RESTART_FAILED and
// retried with backoff, nothing persisted until one succeeded; a hung one is killed with its
// whole process group on --restart-timeout-ms, on newer relation data and on SIGTERM.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isLive } from "../../src/agent/proc.js";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

const RECORD_SH = fileURLToPath(new URL("../support/commands/record.sh", import.meta.url));
cleanUpAfterEach();

/** An external-mode sidecar whose restart command is record.sh, told which runs fail or hang. */
async function external(env: { FAIL_RUNS?: string; HANG_RUNS?: string }, extra: string[] = []) {
  const dir = await tempDir();
  const relation = join(dir, "relation.json");
  const record = join(dir, "commands.log");
  const state = join(dir, "state");
  const sc = await startSidecar(
    [
      ...["--relation", relation, "--state-dir", state, "--mode", "external"],
      ...["--flags-file", join(dir, "agent.flags"), "--on-remove", "keep", "--debounce-ms", "20"],
      ...["--restart-command", `${RECORD_SH} restart parca-agent`, ...extra],
      "--",
      "--node=n1",
    ],
    { RECORD: record, ...env },
  );
  const runs = () =>
    existsSync(record) ? readFileSync(record, "utf8").split("\n").filter(Boolean) : [];
  const hung = () =>
    existsSync(`${record}.hung`)
      ? readFileSync(`${record}.hung`, "utf8").split("\n").filter(Boolean).map(Number)
      : [];
  const knownGood = () =>
    existsSync(join(state, "last-known-good.json"))
      ? JSON.parse(readFileSync(join(state, "last-known-good.json"), "utf8")).current.address
      : undefined;
  return { sc, relation, runs, hung, knownGood };
}

describe("restart commands", () => {
  it("one that fails twice is RESTART_FAILED, retried with backoff, and applied once it succeeds", async () => {
    const [a, b] = [await startStore(), await startStore()];
    const e = await external({ FAIL_RUNS: "2,3" });
    await writeRelation(e.relation, plaintext(a.address));
    await e.sc.waitStatus("RUNNING on a", (s) => s.phase === Phase.RUNNING);
    await writeRelation(e.relation, plaintext(b.address));
    const failed = await e.sc.waitStatus("RESTART_FAILED", (s) => s.agent?.problem !== undefined);
    expect(failed.phase).toBe(Phase.DEGRADED);
    expect(failed.agent?.problem?.code).toBe("RESTART_FAILED");
    expect(failed.agent?.problem?.message).toContain("exit 1: Job for parca-agent.service failed");
    expect(failed.agent?.lastExit?.stderrTail.at(-1)).toMatch(/failed \(run [23]\)/);
    // The previous config stays applied, and the only one persisted.
    expect(failed.applied?.address).toBe(a.address);
    expect(e.knownGood()).toBe(a.address);
    const running = await e.sc.waitStatus(
      "RUNNING on b",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address,
      30_000,
    );
    expect(running.agent?.problem).toBeUndefined();
    expect(e.runs()).toHaveLength(4);
    expect(e.knownGood()).toBe(b.address);
    const retries = e.sc.logs().filter((l) => l.event === "check_retry");
    expect(retries.map((l) => l.inMs)).toHaveLength(2);
  });

  it("one that hangs with a grandchild is killed with its group after --restart-timeout-ms, then retried", async () => {
    const a = await startStore();
    const e = await external({ HANG_RUNS: "1" }, ["--restart-timeout-ms", "1500"]);
    await writeRelation(e.relation, plaintext(a.address));
    const applying = await e.sc.waitStatus("applying", (s) => s.message.startsWith("applying"));
    expect(applying.phase).toBe(Phase.CHECKING);
    const failed = await e.sc.waitStatus("RESTART_FAILED", (s) => s.agent?.problem !== undefined);
    expect(failed.agent?.problem?.message).toContain(
      "timed out after 1500 ms; its process group was killed",
    );
    expect(failed.applied).toBeUndefined();
    expect(e.knownGood()).toBeUndefined();
    await waitFor("the grandchild gone", () => e.hung().length === 1 && !isLive(e.hung()[0] ?? 0));
    await e.sc.waitStatus(
      "RUNNING",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === a.address,
    );
    expect(e.runs()).toHaveLength(2);
  });

  it("newer relation data gives up on a hung command at once; SIGTERM kills a hung one and exits 0", async () => {
    const [a, b, c] = [await startStore(), await startStore(), await startStore()];
    const e = await external({ HANG_RUNS: "1,3" });
    await writeRelation(e.relation, plaintext(a.address));
    await waitFor("the first command hung", () => e.hung().length === 1);
    await writeRelation(e.relation, plaintext(b.address));
    // Far sooner than the 60 s timeout: b is applied, a's command was killed, never reported.
    const running = await e.sc.waitStatus(
      "RUNNING on b",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address,
      30_000,
    );
    expect(running.agent?.problem).toBeUndefined();
    await waitFor("a's grandchild gone", () => !isLive(e.hung()[0] ?? 0));
    expect(e.sc.logs().some((l) => l.event === "command_aborted")).toBe(true);

    await writeRelation(e.relation, plaintext(c.address));
    await waitFor("the third command hung", () => e.hung().length === 2);
    expect(await e.sc.stop()).toBe(0);
    expect(isLive(e.hung()[1] ?? 0)).toBe(false);
    expect(e.knownGood()).toBe(b.address);
  });
});
