// The in-pod shape without Kubernetes: the sidecar with --agent-process beside a loop that plays
// the kubelet and the runtime (it starts a stand-in `parca-agent` reading the sidecar's YAML file
// whenever the previous one exited, and SIGKILLs what is left of it).
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { afterTest, cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { KubeletStandIn } from "../support/kubelet.js";
import {
  recordedGracefulStops,
  recordedStarts,
  standinProcesses,
  waitFor,
} from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import type { Sidecar } from "../support/sidecar.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

const BASE = `relabel_configs:
  - source_labels: [__meta_process_executable_name]
    target_label: executable
node: pod-node
`;

/** The pod: the sidecar, and the kubelet stand-in running the agent container. */
async function pod() {
  const dir = await tempDir();
  const relation = join(dir, "relation.json");
  const flagsFile = join(dir, "shared", "parca-agent.yaml");
  const base = join(dir, "base.yaml");
  const record = join(dir, "starts.jsonl");
  await writeFile(base, BASE);
  // The shared emptyDir.
  await mkdir(join(dir, "shared"));
  const sc = await startSidecar([
    ...["--relation", relation, "--state-dir", join(dir, "state"), "--debounce-ms", "20"],
    ...["--mode", "external", "--agent-process", "parca-agent", "--flags-format", "yaml"],
    ...["--flags-file", flagsFile, "--agent-config-base", base, "--on-remove", "keep"],
    ...["--stop-timeout-ms", "5000"],
  ]);
  const kubelet = new KubeletStandIn({
    args: [`--config-path=${flagsFile}`],
    env: { STANDIN_RECORD: record },
    startupGate: async () => (await sc.health("startup")) === Serving.SERVING,
  });
  kubelet.start();
  afterTest(() => kubelet.stop());
  const addresses = () =>
    recordedStarts(record).map((s) => String(s.config?.["remote-store-address"]));
  return { dir, relation, flagsFile, record, sc, kubelet, addresses };
}

async function runningOn(sc: Sidecar, address: string) {
  return sc.waitStatus(
    `RUNNING on ${address}`,
    (s) => s.phase === Phase.RUNNING && s.applied?.address === address,
    60_000,
  );
}

describe("in the pod: --agent-process", () => {
  it("first config, then changes: each stops the worker gracefully and the kubelet's new agent reads the new file, base kept", async () => {
    const p = await pod();
    const [a, b, c] = [await startStore(), await startStore(), await startStore()];
    expect(await p.sc.health("startup")).toBe(Serving.NOT_SERVING);
    await writeRelation(p.relation, plaintext(a.address));
    const first = await runningOn(p.sc, a.address);
    expect(await p.sc.health("startup")).toBe(Serving.SERVING);
    await waitFor("the first agent", () => p.addresses().length === 1);
    expect(first.agent?.pid).toBe(p.kubelet.starts[0]);
    const written = parse(readFileSync(p.flagsFile, "utf8"));
    expect(written).toMatchObject({
      node: "pod-node",
      relabel_configs: [{ target_label: "executable" }],
      "remote-store-address": a.address,
      "remote-store-insecure": true,
    });

    for (const [i, store] of [b, c].entries()) {
      await writeRelation(p.relation, plaintext(store.address));
      const st = await runningOn(p.sc, store.address);
      await waitFor("the new agent's start", () => p.addresses().length === i + 2);
      expect(st.agent?.pid).toBe(p.kubelet.starts.at(-1));
      expect(st.agent?.problem).toBeUndefined();
    }
    expect(p.addresses()).toEqual([a.address, b.address, c.address]);
    // Each change stopped the worker with SIGTERM, which shut down gracefully.
    expect(recordedGracefulStops(p.record)).toHaveLength(2);
    expect(p.kubelet.starts).toHaveLength(3);
  });

  it("a config that fails its check leaves file and agent alone; another pod's agent is never touched", async () => {
    const p = await pod();
    const other = await tempDir();
    const otherFile = join(other, "parca-agent.yaml");
    const a = await startStore();
    await writeFile(
      otherFile,
      `remote-store-address: "${a.address}"\nremote-store-insecure: true\n`,
    );
    const neighbour = new KubeletStandIn({
      args: [`--config-path=${otherFile}`],
      env: { STANDIN_RECORD: join(other, "starts.jsonl") },
    });
    neighbour.start();
    afterTest(() => neighbour.stop());
    await waitFor(
      "the neighbour's agent",
      () => recordedStarts(join(other, "starts.jsonl")).length === 1,
    );

    await writeRelation(p.relation, plaintext(a.address));
    const running = await runningOn(p.sc, a.address);
    const fileBefore = readFileSync(p.flagsFile, "utf8");
    await writeRelation(p.relation, {
      "remote-store-address": "127.0.0.1:1",
      "remote-store-insecure": "true",
    });
    const held = await p.sc.waitStatus("held", (s) => s.lastCheck?.ok === false);
    expect(held.applied?.address).toBe(a.address);
    expect(held.agent?.pid).toBe(running.agent?.pid);
    expect(readFileSync(p.flagsFile, "utf8")).toBe(fileBefore);
    expect(p.kubelet.starts).toHaveLength(1);

    // Many changes: exactly one agent of this pod, and the neighbour's first agent still runs.
    const stores = [await startStore(), await startStore()];
    for (let i = 0; i < 6; i++) {
      await writeRelation(p.relation, plaintext((stores[i % 2] as { address: string }).address));
      if (i % 2 === 1) await runningOn(p.sc, (stores[1] as { address: string }).address);
    }
    const last = await runningOn(p.sc, (stores[1] as { address: string }).address);
    const ours = standinProcesses().filter((x) =>
      x.argv.some((a) => a === `--config-path=${p.flagsFile}`),
    );
    // The agent and its re-executed worker.
    expect(ours).toHaveLength(2);
    expect(ours.map((x) => x.pid)).toContain(last.agent?.pid);
    expect(neighbour.starts).toHaveLength(1);
    expect(recordedStarts(join(other, "starts.jsonl"))).toHaveLength(1);
  });
});
