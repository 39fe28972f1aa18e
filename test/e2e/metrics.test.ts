import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { version } from "../../src/cli/version.js";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

/** Sample values from Prometheus text, by metric name with labels as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(address: string): Promise<Map<string, number>> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return samples(await res.text());
}

describe("--metrics-listen", () => {
  it("serves Prometheus metrics that move with the sidecar", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const [a, b] = [await startStore({ token: "t-a" }), await startStore()];
    const sc = await startSidecar([
      ...standinRun(relation, join(dir, "state")),
      "--metrics-listen",
      "127.0.0.1:0",
      "--debounce-ms",
      "20",
    ]);
    const before = await scrape(sc.metricsAddress);
    expect(before.get("parca_agent_sidecar_agent_up")).toBe(0);
    expect(before.get("parca_agent_sidecar_config_applies_total")).toBe(0);
    for (const reason of ["config", "crash", "rollback"])
      expect(before.get(`parca_agent_sidecar_agent_restarts_total{reason="${reason}"}`)).toBe(0);
    expect(before.get('parca_agent_sidecar_rollbacks_total{reason="AGENT_CRASH_LOOP"}')).toBe(0);
    expect(
      [...before.keys()].filter((k) => k.startsWith("parca_agent_sidecar_build_info")),
    ).toEqual([`parca_agent_sidecar_build_info{version="${version()}"}`]);
    expect(before.get("parca_agent_sidecar_reaction_seconds_count")).toBe(0);
    expect(before.has("process_cpu_seconds_total")).toBe(true);
    expect(before.has("nodejs_heap_size_used_bytes")).toBe(true);

    await writeRelation(relation, {
      "remote-store-address": a.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "t-a",
    });
    await sc.waitStatus("RUNNING on a", (s) => s.phase === Phase.RUNNING);
    await writeRelation(relation, {
      "remote-store-address": a.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "wrong",
    });
    await sc.waitStatus("held", (s) => s.lastCheck?.diagnosis?.code === "UNAUTHENTICATED");
    await writeRelation(relation, plaintext(b.address));
    await sc.waitStatus(
      "RUNNING on b",
      (s) => s.applied?.address === b.address && s.phase === Phase.RUNNING,
    );

    const after = await waitFor("restarts counted", async () => {
      const m = await scrape(sc.metricsAddress);
      return (m.get('parca_agent_sidecar_agent_restarts_total{reason="config"}') ?? 0) >= 1
        ? m
        : undefined;
    });
    expect(after.get("parca_agent_sidecar_agent_up")).toBe(1);
    expect(after.get("parca_agent_sidecar_config_applies_total")).toBe(2);
    expect(after.get('parca_agent_sidecar_store_checks_total{result="ok"}')).toBeGreaterThanOrEqual(
      2,
    );
    expect(
      after.get('parca_agent_sidecar_store_checks_total{result="UNAUTHENTICATED"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(after.get("parca_agent_sidecar_reaction_seconds_count")).toBe(2);
    expect(after.get("parca_agent_sidecar_reaction_seconds_sum")).toBeGreaterThan(0);
    // What the real `run` serves passes promtool's lint (no gauge named like a counter …).
    const served = await (await fetch(`http://${sc.metricsAddress}/metrics`)).text();
    const lint = spawnSync("promtool", ["check", "metrics"], { input: served, encoding: "utf8" });
    expect({ status: lint.status, out: `${lint.stdout}${lint.stderr}` }).toEqual({
      status: 0,
      out: "",
    });
    expect(served).toMatch(/^parca_agent_sidecar_phase\{phase="RUNNING"\} 1$/m);
    expect(served).toMatch(/^parca_agent_sidecar_diagnosis\{code="OK"\} 1$/m);
    expect(served).toMatch(/^parca_agent_sidecar_desired_held_seconds 0$/m);
    const res = await fetch(`http://${sc.metricsAddress}/other`);
    expect(res.status).toBe(404);
    expect(JSON.stringify([...after])).not.toContain("t-a");
  });
});
