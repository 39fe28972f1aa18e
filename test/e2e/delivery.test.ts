// The real `run` process with a stand-in agent that really writes: delivery is read from the
// agent's own metrics, and a config whose writes do not arrive is rolled back.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { DeliveryState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { makePki } from "../support/certs.js";
import { runCli } from "../support/cli.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { freePort } from "../support/ingress.js";
import { recordedStarts, standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

/** A sidecar whose stand-in agent writes, delivering to a first plaintext store. */
async function delivering(extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const dir = await tempDir();
  const relation = join(dir, "relation.json");
  const first = await startStore();
  await writeRelation(relation, plaintext(first.address));
  const port = await freePort();
  const sc = await startSidecar(
    [
      ...standinRun(relation, join(dir, "state")),
      ...["--delivery-timeout-ms", "4000", "--stop-timeout-ms", "2000", ...extra],
      "--",
      `--http-address=127.0.0.1:${port}`,
    ],
    { STANDIN_RECORD: join(dir, "starts.jsonl"), ...env },
  );
  const st = await sc.waitStatus(
    "DELIVERING",
    (s) => s.phase === Phase.RUNNING && s.delivery?.state === DeliveryState.DELIVERING,
  );
  expect(st.delivery?.metricsUrl).toBe(`http://127.0.0.1:${port}/metrics`);
  expect(Number(st.delivery?.okWrites)).toBeGreaterThan(0);
  await waitFor("writes at the store", () => first.writes > 0);
  const printed = await runCli(["status", "--address", sc.address]);
  expect(printed.stdout).toMatch(/^delivery: DELIVERING, \d+ ok, 0 failed, last ok .* from http:/m);
  return { sc, dir, relation, first };
}

describe("delivery", () => {
  it("metrics that answer without a write: AGENT_NOT_DELIVERING, rolled back", async () => {
    const idle = await startStore();
    const { sc, relation, first } = await delivering([], {
      STANDIN_NO_WRITES_ADDRESS: idle.address,
    });
    await writeRelation(relation, plaintext(idle.address));
    await sc.waitStatus("the new config running", (s) => s.applied?.address === idle.address);
    const rolled = await sc.waitStatus(
      "the rollback",
      (s) => s.rejected?.code === "AGENT_NOT_DELIVERING",
    );
    expect(rolled.rejected?.message).toContain("wrote nothing");
    await sc.waitStatus("back on the first store", (s) => s.applied?.address === first.address);
  });

  it("nothing to roll back to: DEGRADED, reported, the agent left running and never restarted", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const quota = await startStore({ writeStatus: grpc.status.PERMISSION_DENIED });
    await writeRelation(relation, plaintext(quota.address));
    const record = join(dir, "starts.jsonl");
    const sc = await startSidecar(
      [
        ...standinRun(relation, join(dir, "state")),
        ...["--agent-version", "v0.49.0", "--delivery-timeout-ms", "3000"],
        "--",
        `--http-address=127.0.0.1:${await freePort()}`,
      ],
      { STANDIN_RECORD: record },
    );
    const st = await sc.waitStatus(
      "the problem",
      (s) => s.delivery?.problem?.code === "AGENT_WRITES_FAILING",
    );
    expect(st.delivery?.problem?.message).toContain("PermissionDenied");
    expect(st.phase).toBe(Phase.DEGRADED);
    expect(st.rejected).toBeUndefined();
    expect(recordedStarts(record)).toHaveLength(1);
    expect(await sc.health("readiness")).toBe(Serving.SERVING);
    // And later: more failed writes seen by the loop (the sentinel), still no restart.
    const later = await sc.waitStatus(
      "more failed writes observed",
      (s) => Number(s.delivery?.failedWrites) >= Number(st.delivery?.failedWrites) + 5,
    );
    expect(later.agent?.pid).toBe(st.agent?.pid);
    expect(later.rejected).toBeUndefined();
    expect(later.delivery?.problem?.code).toBe("AGENT_WRITES_FAILING");
    expect(recordedStarts(record)).toHaveLength(1);
  });

  it("a store that passes every probe but refuses the agent's writes: rolled back, AGENT_WRITES_FAILING", async () => {
    const { sc, relation, first } = await delivering();
    const quota = await startStore({ writeStatus: grpc.status.RESOURCE_EXHAUSTED });
    await writeRelation(relation, plaintext(quota.address));
    const pending = await sc.waitStatus(
      "the new config running",
      (s) => s.applied?.address === quota.address,
    );
    expect(pending.message).toContain("waiting for the agent's first write");
    const rolled = await sc.waitStatus(
      "the rollback",
      (s) => s.rejected?.code === "AGENT_WRITES_FAILING",
    );
    expect(rolled.rejected?.message).toContain("ResourceExhausted");
    await sc.waitStatus(
      "back on the first store, delivering",
      (s) => s.applied?.address === first.address && s.delivery?.state === DeliveryState.DELIVERING,
    );
    const now = await sc.status();
    expect(now.phase).toBe(Phase.DEGRADED);
    expect(now.desired?.address).toBe(quota.address);
  });

  it("a store the sidecar trusts through --ca-file but the agent does not: AGENT_NOT_CONNECTED", async () => {
    const pki = makePki();
    const dir = await tempDir();
    const caFile = join(dir, "ca.pem");
    await writeFile(caFile, pki.ca.certPem);
    const { sc, relation, first } = await delivering(["--ca-file", caFile]);
    const tls = await startStore({ tls: { leaf: pki.leaf } });
    await writeRelation(relation, {
      "remote-store-address": `localhost:${tls.port}`,
      "remote-store-insecure": "false",
    });
    const checked = await sc.waitStatus(
      "the check passed",
      (s) => s.lastCheck?.address === `localhost:${tls.port}`,
    );
    expect(checked.lastCheck?.ok).toBe(true);
    const rolled = await sc.waitStatus(
      "the rollback",
      (s) => s.rejected?.code === "AGENT_NOT_CONNECTED",
    );
    expect(rolled.rejected?.hint).toContain("CA");
    await sc.waitStatus("back on the first store", (s) => s.applied?.address === first.address);
    expect(tls.writes).toBe(0);
  });
});
