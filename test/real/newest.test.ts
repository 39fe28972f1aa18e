// What only the newest agents do, with the real parca-agent v0.49.0: a scraper-only Parca (a
// forwarder) that does not take its WriteArrow, the same forwarder taken over the Write stream
// (--remote-store-use-v2-schema=false), where the check passes and the agent's writes fail —
// and the pod shape, where the agent is its own container reading the sidecar's YAML flags.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { metricsUrlFromArgs } from "../../src/delivery/scrape.js";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { DeliveryState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { afterTest, cleanUpAfterEach, startParca, startSidecar } from "../support/e2e.js";
import { KubeletStandIn } from "../support/kubelet.js";
import { waitFor } from "../support/procs.js";
import { agentArgs, realAgentBinary, realAgentProcesses } from "../support/real-agent.js";
import {
  expectStatus,
  noRealAgentAfterEach,
  profilesOf,
  realSidecar,
} from "../support/real-run.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

noRealAgentAfterEach();
cleanUpAfterEach();
// Each waits on the real agent: its eBPF load, its 5 s profiling period, and — where its writes
// fail — for --delivery-timeout-ms (45 s) to run out.

const VERSION = "v0.49.0";
const AGENT = realAgentBinary(VERSION);

describe("the v2-schema flag as the releases spell it", () => {
  /** What a release says of its command line: exit code and its error line. */
  const parse = (version: "v0.41.0" | "v0.49.0", flag: string) =>
    new Promise<{ code: number | null; said: string }>((resolve) => {
      execFile(
        realAgentBinary(version),
        ["--node=real-flags", flag, "--help"],
        (err, _out, stderr) =>
          resolve({
            code: err ? (err.code as number) : 0,
            said: stderr.split("\n").find((l) => l.startsWith("parca-agent:")) ?? "",
          }),
      );
    });

  it("--use-v2-schema (what the help text says) is unknown to v0.49.0 and v0.41.0; --remote-store-use-v2-schema is v0.49.0's", async () => {
    for (const version of ["v0.41.0", "v0.49.0"] as const) {
      expect(await parse(version, "--use-v2-schema=false")).toEqual({
        code: 80,
        said: "parca-agent: error: unknown flag --use-v2-schema",
      });
    }
    expect((await parse("v0.49.0", "--remote-store-use-v2-schema=false")).code).toBe(0);
    expect(await parse("v0.41.0", "--remote-store-use-v2-schema=false")).toEqual({
      code: 80,
      said: "parca-agent: error: unknown flag --remote-store-use-v2-schema",
    });
  });
});

describe(`the real parca-agent ${VERSION}`, () => {
  it("a scraper-only Parca does not take WriteArrow: held with the forwarder's own words, the running agent untouched", async () => {
    const a = await startParca();
    const forwarder = await startParca({ forwardTo: a.address });
    const relation = join(await tempDir(), "relation.json");
    await writeRelation(relation, plaintext(a.address));
    const { args, node } = await agentArgs("held");
    const sc = await realSidecar(AGENT, relation, [], args);
    const delivering = await expectStatus(sc, "DELIVERING on a", (s) => {
      return s.applied?.address === a.address && s.delivery?.state === DeliveryState.DELIVERING;
    });
    expect(delivering.lastCheck?.writeRpc).toBe("WriteArrow");

    await writeRelation(relation, plaintext(forwarder.address));
    const held = await expectStatus(sc, "held", (s) => s.lastCheck?.address === forwarder.address);
    expect(held.lastCheck?.ok).toBe(false);
    expect(held.lastCheck?.diagnosis?.code).toBe("STORE_TOO_OLD");
    expect(held.lastCheck?.diagnosis?.message).toContain(
      'UNIMPLEMENTED "method WriteArrow not implemented"',
    );
    expect(held.lastCheck?.diagnosis?.hint).toContain("--remote-store-use-v2-schema=false");
    expect(held.phase).toBe(Phase.DEGRADED);
    expect(held.agent?.pid).toBe(delivering.agent?.pid);
    expect(held.applied?.address).toBe(a.address);
    // Still profiling into a: new samples keep arriving there.
    const before = await a.handled("WriteArrow");
    await waitFor("another write to a", async () => (await a.handled("WriteArrow")) > before);
    expect((await sc.status()).agent?.pid).toBe(delivering.agent?.pid);
    expect(await sc.stop()).toBe(0);
    expect((await a.nodes()).includes(node)).toBe(true);
  }, 180_000);

  it("the forwarder over the Write stream (--remote-store-use-v2-schema=false): the check passes with WRITE_STREAM_UNANSWERED, the agent's writes fail, rolled back with its own words", async () => {
    const a = await startParca();
    const forwarder = await startParca({ forwardTo: a.address });
    const relation = join(await tempDir(), "relation.json");
    await writeRelation(relation, plaintext(a.address));
    const { args, node } = await agentArgs("write-stream");
    const sc = await realSidecar(
      AGENT,
      relation,
      ["--delivery-timeout-ms", "45000"],
      [...args, "--remote-store-use-v2-schema=false"],
    );
    const onA = await expectStatus(sc, "DELIVERING on a", (s) => {
      return s.applied?.address === a.address && s.delivery?.state === DeliveryState.DELIVERING;
    });
    expect(onA.lastCheck).toMatchObject({ ok: true, writeRpc: "Write" });
    expect(onA.lastCheck?.writeRpcReason).toContain("--remote-store-use-v2-schema=false");
    await profilesOf(a, node, sc);
    expect(await a.handled("WriteArrow")).toBe(0); // the Write stream, as the flag says

    await writeRelation(relation, plaintext(forwarder.address));
    const applied = await expectStatus(sc, "applied to the forwarder", (s) => {
      return s.applied?.address === forwarder.address;
    });
    expect(applied.lastCheck?.ok).toBe(true);
    expect(applied.lastCheck?.warnings.map((w) => w.code)).toContain("WRITE_STREAM_UNANSWERED");
    const rolledBack = await expectStatus(
      sc,
      "rolled back to a",
      (s) => s.rejected !== undefined && s.applied?.address === a.address,
      120_000,
    );
    // Said whole on failure: which of the agent's lines was its last varies with its timing.
    const rejected = JSON.stringify(rolledBack.rejected);
    expect(rolledBack.rejected?.code, rejected).toBe("AGENT_WRITES_FAILING");
    expect(rolledBack.rejected?.message, rejected).toContain("Unavailable");
    // The agent's own words: its gRPC error ("rpc error: code = Unavailable desc = i/o timeout").
    expect(rolledBack.rejected?.message, rejected).toMatch(
      /the agent said: .*(rpc error|i\/o timeout)/,
    );
    await expectStatus(sc, "DELIVERING on a again", (s) => {
      return s.applied?.address === a.address && s.delivery?.state === DeliveryState.DELIVERING;
    });
    expect(await sc.stop()).toBe(0);
    expect(realAgentProcesses()).toEqual([]);
  }, 240_000);

  it("the pod shape: the agent started as the kubelet would, on --config-path with the sidecar's YAML flags; profiles in a, then in b after a change", async () => {
    const [a, b] = [await startParca(), await startParca()];
    const dir = await tempDir("pas-pod-");
    const relation = join(dir, "relation.json");
    const flagsFile = join(dir, "shared", "parca-agent.yaml");
    const base = join(dir, "base.yaml");
    await mkdir(join(dir, "shared"));
    const { args, node } = await agentArgs("pod");
    // The operator's config: a relabel rule the written file keeps, and one flag.
    await writeFile(
      base,
      "relabel_configs:\n  - source_labels: [__meta_process_executable_name]\n    target_label: executable\nprofiling-duration: 5s\n",
    );
    const sc = await startSidecar([
      ...["--relation", relation, "--state-dir", join(dir, "state"), "--debounce-ms", "20"],
      ...["--mode", "external", "--agent-process", "parca-agent", "--flags-format", "yaml"],
      ...["--flags-file", flagsFile, "--agent-config-base", base, "--on-remove", "keep"],
      ...["--agent-version", VERSION, "--agent-metrics-url", metricsUrlFromArgs(args)],
    ]);
    const kubelet = new KubeletStandIn({
      binary: AGENT,
      args: [...args, `--config-path=${flagsFile}`],
      startupGate: async () => (await sc.health("startup")) === Serving.SERVING,
    });
    kubelet.start();
    afterTest(() => kubelet.stop());
    await writeRelation(relation, plaintext(a.address));

    const onA = await expectStatus(sc, "DELIVERING on a", (s) => {
      return s.applied?.address === a.address && s.delivery?.state === DeliveryState.DELIVERING;
    });
    expect(onA.agent?.problem).toBeUndefined();
    expect(onA.agent?.pid).toBe(kubelet.starts[0]);
    await profilesOf(a, node, sc);

    await writeRelation(relation, plaintext(b.address));
    const onB = await expectStatus(
      sc,
      "DELIVERING on b",
      (s) => s.applied?.address === b.address && s.delivery?.state === DeliveryState.DELIVERING,
      120_000,
    );
    expect(onB.agent?.problem).toBeUndefined();
    expect(kubelet.starts).toHaveLength(2);
    expect(onB.agent?.pid).toBe(kubelet.starts[1]);
    await profilesOf(b, node, sc);
    expect(await sc.stop()).toBe(0);
    await kubelet.stop();
  }, 240_000);
});
