// A freeze switch for incidents, and an honest status: `pause` keeps new relation data from
// being applied (checked and shown, never applied; kept across a restart), `resume` applies it;
// status shows readiness, version, uptime, since when the phase holds and planned stops apart
// from crashes; with no sidecar, status says where it asked and how to point it elsewhere.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { spawnCli } from "../support/cli.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { refusedPort } from "../support/endpoints.js";
import { recordedStarts, standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

describe("pause and resume", () => {
  it("paused: new data is checked and shown, never applied, also after a restart; resume applies it", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const state = join(dir, "state");
    const record = join(dir, "starts.jsonl");
    const [a, b] = [await startStore(), await startStore()];
    await writeRelation(relation, plaintext(a.address));
    const args = [...standinRun(relation, state), "--debounce-ms", "20"];
    const first = await startSidecar(args, { STANDIN_RECORD: record });
    await first.waitStatus("RUNNING on a", (s) => s.phase === Phase.RUNNING);
    await waitFor("a's agent", () => recordedStarts(record).length === 1);

    const paused = await spawnCli(["pause", "--address", first.address, "--reason", "INC-42"]);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain(`paused the sidecar at ${first.address}`);
    expect((await first.status()).paused).toBe(true);

    await writeRelation(relation, plaintext(b.address));
    const held = await first.waitStatus(
      "b checked, not applied",
      (s) => s.desired?.address === b.address && s.lastCheck?.address === b.address,
    );
    expect(held.phase).toBe(Phase.DEGRADED);
    expect(held.ready).toBe(true);
    expect(held.message).toBe(
      `paused (INC-42): ${b.address} is not applied until resume; the agent keeps running ${a.address}`,
    );
    expect(held.applied?.address).toBe(a.address);
    expect(recordedStarts(record)).toHaveLength(1);

    // The pause outlives the sidecar: the next one starts a's last-known-good, not b.
    expect(await first.stop()).toBe(0);
    const second = await startSidecar(args, { STANDIN_RECORD: record });
    const after = await second.waitStatus(
      "paused after the restart",
      (s) => s.paused && s.lastCheck?.address === b.address && s.applied?.address === a.address,
    );
    expect(after.message).toContain("is not applied until resume");

    const resumed = await spawnCli(["resume", "--address", second.address]);
    expect(resumed.code).toBe(0);
    const running = await second.waitStatus(
      "RUNNING on b",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address,
    );
    expect(running.paused).toBe(false);
    expect(second.logs().some((l) => l.event === "resumed")).toBe(true);
  });
});

describe("status", () => {
  it("shows readiness, version, uptime, the phase's age, and a planned restart apart from a crash", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const [a, b] = [await startStore(), await startStore()];
    await writeRelation(relation, plaintext(a.address));
    const sc = await startSidecar([
      ...standinRun(relation, join(dir, "state")),
      "--debounce-ms",
      "20",
    ]);
    await sc.waitStatus("RUNNING on a", (s) => s.phase === Phase.RUNNING);
    await writeRelation(relation, plaintext(b.address));
    const st = await sc.waitStatus(
      "RUNNING on b",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address && s.agent?.pid !== 0,
    );
    expect(st.ready).toBe(true);
    // Supervise mode: the agent was started, so an agent container would have been let go.
    expect(await sc.health("startup")).toBe(Serving.SERVING);
    expect(st.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(st.sidecarStartedAt).toBeDefined();
    expect(st.phaseSince).toBeDefined();
    expect(st.agent).toMatchObject({ restarts: 1, crashes: 0 });
    expect(st.agent?.lastExit?.planned).toBe(true);

    const out = await spawnCli(["status", "--address", sc.address]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^phase: {4}RUNNING for \d+s$/m);
    expect(out.stdout).toMatch(/^ready: {4}yes$/m);
    expect(out.stdout).toMatch(/1 restart \(0 crashes\)/);
    expect(out.stdout).toMatch(/^last stop: code .*, by the sidecar/m);
    expect(out.stdout).toMatch(new RegExp(`^sidecar:  ${st.version}, up \\d+s$`, "m"));
  });

  it("with no sidecar, says which address it asked and how to point it elsewhere", async () => {
    const port = await refusedPort();
    const out = await spawnCli(["status"], { PARCA_SIDECAR_LISTEN: `127.0.0.1:${port}` });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`no answer from a sidecar at 127.0.0.1:${port} (`);
    expect(out.stderr).toContain("ECONNREFUSED");
    expect(out.stderr).not.toContain("Resolution note");
    expect(out.stderr).toContain("--address ADDR or PARCA_SIDECAR_LISTEN=ADDR");
    expect(out.stderr).toContain("unix:/run/parca-agent-sidecar/api.sock");
    const pause = await spawnCli(["pause", "--address", `127.0.0.1:${port}`]);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toContain("parca-agent-sidecar pause: no answer from a sidecar at");
  });
});
