// The real `run` process and what status says about the agent's processes: it follows the
// leader's exit, stops the agent gracefully, and never calls an agent that cannot start running.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isLive } from "../../src/agent/proc.js";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { AgentState, Phase, type Status } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import {
  recordedGracefulStops,
  recordedStarts,
  standinProcesses,
  standinRun,
  waitFor,
} from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

async function running(extra: string[] = []) {
  const dir = await tempDir();
  const relation = join(dir, "relation.json");
  const record = join(dir, "starts.jsonl");
  const store = await startStore();
  await writeRelation(relation, plaintext(store.address));
  const sc = await startSidecar(
    [...standinRun(relation, join(dir, "state")), "--stop-timeout-ms", "1000", ...extra],
    { STANDIN_RECORD: record },
  );
  await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
  await waitFor("the agent's start", () => recordedStarts(record).length === 1);
  return { sc, record, store, relation };
}

/** Status agrees with /proc: the pid it names is a live process, or it names none. */
function agreesWithProc(s: Status): boolean {
  const pid = s.agent?.pid ?? 0;
  return s.agent?.state === AgentState.RUNNING ? pid > 0 && isLive(pid) : true;
}

describe("process truth", () => {
  it("kills each process of the agent's group in turn; status follows /proc after each step", async () => {
    const { sc, record } = await running();
    for (const [step, victim] of [
      ["leader alone", "leader"],
      ["worker alone", "worker"],
      ["both", "both"],
    ] as const) {
      const before = await sc.status();
      const starts = recordedStarts(record).length;
      const leader = before.agent?.pid as number;
      const worker = recordedStarts(record).at(-1)?.pid as number;
      if (victim !== "worker") process.kill(leader, "SIGKILL");
      if (victim !== "leader") process.kill(worker, "SIGKILL");
      const crashed = await sc.waitStatus(
        `${step}: the crash`,
        (s) =>
          (s.agent?.restarts ?? 0) > (before.agent?.restarts ?? 0) ||
          s.agent?.state === AgentState.BACKOFF,
      );
      expect(agreesWithProc(crashed)).toBe(true);
      await waitFor(`${step}: a new agent`, () => recordedStarts(record).length === starts + 1);
      const again = await sc.waitStatus(
        `${step}: running again`,
        (s) => s.agent?.state === AgentState.RUNNING && s.agent.pid !== leader,
      );
      expect(agreesWithProc(again)).toBe(true);
      await waitFor(`${step}: exactly one agent`, () => standinProcesses().length === 2);
      expect(standinProcesses().some((p) => p.pid === worker || p.pid === leader)).toBe(false);
    }
  });

  it("a config change stops the old agent gracefully: its worker shuts down through its parent", async () => {
    const { sc, record, relation } = await running();
    const other = await startStore();
    await writeRelation(relation, plaintext(other.address));
    await sc.waitStatus("the new store", (s) => s.applied?.address === other.address);
    await waitFor("the new agent", () => recordedStarts(record).length === 2);
    const first = recordedStarts(record)[0]?.pid;
    await waitFor("the graceful stop", () =>
      recordedGracefulStops(record).includes(first as number),
    );
    // The old worker ran its own handler (a graceful stop), and only the old one stopped.
    expect(recordedGracefulStops(record)).toEqual([first]);
  });

  it("an agent that cannot be started: AGENT_START_FAILED, phase DEGRADED, never ready", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const store = await startStore();
    await writeRelation(relation, plaintext(store.address));
    const sc = await startSidecar([
      ...["--relation", relation, "--agent", join(dir, "no-such-agent")],
      ...["--state-dir", join(dir, "state")],
    ]);
    const degraded = await sc.waitStatus(
      "AGENT_START_FAILED",
      (s) => s.agent?.problem?.code === "AGENT_START_FAILED",
    );
    expect(degraded.phase).toBe(Phase.DEGRADED);
    expect(degraded.message).toContain("no-such-agent");
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
    // Retried with backoff (1 s, 2 s …): never RUNNING, never ready in between.
    const failures = () => sc.logs().filter((l) => l.event === "agent_start_failed").length;
    await waitFor("two retries", () => failures() >= 3, 15_000);
    expect(sc.statuses.some((s) => s.phase === Phase.RUNNING)).toBe(false);
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
  });
});
