// The real parca-agent releases behind the relay (`run --relay`): started once on the relay's
// unix socket, they keep their pid across store changes, token rotations, held configs and
// rollbacks — v0.41.0 over the Write stream, v0.49.0 over WriteArrow — with real Parca v0.28.0
// servers, Debian's nginx demanding a token, and grpc-js test stores on loopback.
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  AgentState,
  DeliveryState,
  Phase,
  type Status,
} from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { makePki } from "../support/certs.js";
import {
  afterTest,
  cleanUpAfterEach,
  startParca,
  startSidecar,
  startStore,
} from "../support/e2e.js";
import { freePort } from "../support/ingress.js";
import { KubeletStandIn } from "../support/kubelet.js";
import { waitFor } from "../support/procs.js";
import {
  AGENT_VERSIONS,
  agentArgs,
  realAgentBinary,
  realAgentProcesses,
} from "../support/real-agent.js";
import {
  expectStatus,
  nginxInFront,
  noRealAgentAfterEach,
  profilesOf,
  realSidecar,
} from "../support/real-run.js";
import { plaintext, tlsWithToken, writeRelation } from "../support/relation.js";
import type { Sidecar } from "../support/sidecar.js";
import { tempDir } from "../support/tmp.js";

noRealAgentAfterEach();
cleanUpAfterEach();
const pki = makePki();

/** The sidecar's own counter or gauge, summed over the series whose labels contain `labels`. */
async function metric(sc: Sidecar, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`http://${sc.metricsAddress}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

/** Writes seen OK through the relay for the applied config: the relay's own count. */
const okWrites = (s: Status) => Number(s.delivery?.okWrites ?? 0);

describe.each(AGENT_VERSIONS)("the real parca-agent %s behind the relay", (version) => {
  const AGENT = realAgentBinary(version);
  /** The RPC this release writes with by default. */
  const rpc = version === "v0.41.0" ? "Write" : "WriteArrow";

  async function relaySidecar(
    relation: string,
    name: string,
    args: string[] = [],
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ sc: Sidecar; socket: string; node: string }> {
    const socket = join(await tempDir("pas-relay-"), "relay.sock");
    const { args: agentArgv, node } = await agentArgs(name);
    const sc = await realSidecar(
      AGENT,
      relation,
      ["--relay", `unix:${socket}`, "--metrics-listen", "127.0.0.1:0", ...args],
      agentArgv,
      env,
    );
    return { sc, socket, node };
  }

  it("started before any relation data; profiles in a, the relation moved to b, profiles in b — the agent's pid unchanged, no restart; a store that fails its check is held while b keeps receiving", async () => {
    const [a, b] = [await startParca(), await startParca()];
    const relation = join(await tempDir(), "relation.json");
    // No relation data yet: the agent is started at once, on the relay, and waits there.
    const { sc, socket, node } = await relaySidecar(relation, "relay-move");
    const waiting = await expectStatus(sc, "the agent running on the relay, no store yet", (s) => {
      return s.agent?.state === AgentState.RUNNING && s.phase === Phase.WAITING_FOR_RELATION;
    });
    await writeRelation(relation, plaintext(a.address));
    const onA = await expectStatus(sc, "DELIVERING on a through the relay", (s) => {
      return s.applied?.address === a.address && s.delivery?.state === DeliveryState.DELIVERING;
    });
    // The agent dials the relay, over plaintext, with no token; the relay observes delivery.
    expect(onA.agentArgs.slice(-2)).toEqual([
      `--remote-store-address=unix://${socket}`,
      "--remote-store-insecure=true",
    ]);
    expect(onA.delivery?.relay).toBe(`unix:${socket}`);
    expect(onA.delivery?.metricsUrl).toBe("");
    expect(onA.lastCheck).toMatchObject({ ok: true, writeRpc: rpc });
    await profilesOf(a, node, sc);
    const pid = onA.agent?.pid;
    expect(pid).toBe(waiting.agent?.pid);

    await writeRelation(relation, plaintext(b.address));
    const onB = await expectStatus(sc, "b applied and proven by a write through the relay", (s) => {
      return s.applied?.address === b.address && okWrites(s) > 0;
    });
    expect(onB.phase).toBe(Phase.RUNNING);
    await profilesOf(b, node, sc);
    const handledOnA = await a.handled(rpc);
    const now = await sc.status();
    expect(now.agent?.pid).toBe(pid);
    expect(now.agent?.restarts).toBe(0);
    expect(now.agent?.state).toBe(AgentState.RUNNING);
    expect(await metric(sc, "parca_agent_sidecar_agent_restarts_total")).toBe(0);
    expect(
      await metric(sc, "parca_agent_sidecar_relay_calls_total", `store="${a.address}"`),
    ).toBeGreaterThan(0);
    expect(
      await metric(sc, "parca_agent_sidecar_relay_bytes_total", `store="${b.address}"`),
    ).toBeGreaterThan(0);
    expect(sc.logs().filter((l) => l.event === "relay_switched")).toHaveLength(2);

    // A store nothing listens on: held by its check, b keeps receiving, the agent untouched.
    const gone = `127.0.0.1:${await freePort()}`;
    await writeRelation(relation, plaintext(gone));
    const held = await expectStatus(sc, "held", (s) => s.lastCheck?.address === gone);
    expect(held.lastCheck?.ok).toBe(false);
    expect(held.lastCheck?.diagnosis?.code).toBe("CONNECTION_REFUSED");
    expect(held.applied?.address).toBe(b.address);
    const before = await b.handled(rpc);
    await waitFor(`another ${rpc} to b`, async () => (await b.handled(rpc)) > before, 60_000);
    expect(await a.handled(rpc)).toBe(handledOnA);
    expect((await sc.status()).agent?.pid).toBe(pid);

    expect(await sc.stop()).toBe(0);
    expect(realAgentProcesses()).toEqual([]);
  }, 240_000);

  it("a token rotated behind nginx: the relay sends the new one over TLS with no restart; a store that refuses the agent's writes is rolled back to, without a restart either", async () => {
    const a = await startParca();
    // The store accepts the old and the new token while the relation rotates.
    const demand =
      'if ($http_authorization !~ "^Bearer (old-token-1|new-token-2)$") { return 401; }';
    const { ingress, caFile: ca } = await nginxInFront(a, pki, demand);
    const relation = join(await tempDir(), "relation.json");
    await writeRelation(relation, tlsWithToken(ingress.address, "old-token-1"));
    const { sc, node } = await relaySidecar(
      relation,
      "relay-rotate",
      ["--ca-file", ca, "--delivery-timeout-ms", "45000"],
      {},
    );
    const old = await expectStatus(sc, "delivering with the old token", (s) => {
      return s.applied?.address === ingress.address && okWrites(s) > 0;
    });
    await profilesOf(a, node, sc);
    const pid = old.agent?.pid;
    // The agent itself was given no token: the relay holds it.
    expect(old.agentArgs.filter((arg) => arg.includes("bearer-token"))).toEqual([]);

    await writeRelation(relation, tlsWithToken(ingress.address, "new-token-2"));
    const applied = () => sc.logs().filter((l) => l.event === "config_applied").length;
    await waitFor("the new token applied", () => applied() === 2);
    // Delivery counts start again with each applied config: these writes carried the new token.
    const rotated = await expectStatus(sc, "writing with the new token", (s) => okWrites(s) > 0);
    expect(applied()).toBe(2);
    expect(sc.logs().filter((l) => l.event === "relay_switched")).toHaveLength(2);
    expect(rotated.agent?.pid).toBe(pid);
    expect(rotated.agent?.restarts).toBe(0);

    // The rotation ends: the store accepts only the new token. Writes keep landing.
    const { ingress: strict } = await nginxInFront(
      a,
      pki,
      'if ($http_authorization != "Bearer new-token-2") { return 401; }',
    );
    await writeRelation(relation, tlsWithToken(strict.address, "new-token-2"));
    const onStrict = await expectStatus(sc, "writing to the strict ingress", (s) => {
      return s.applied?.address === strict.address && okWrites(s) > 0;
    });
    expect(Number(onStrict.delivery?.failedWrites)).toBe(0);

    // A store that passes every probe but refuses the agent's real writes: rolled back.
    const quota = await startStore({ writeStatus: grpc.status.RESOURCE_EXHAUSTED });
    await writeRelation(relation, plaintext(quota.address));
    const rolled = await expectStatus(
      sc,
      "rolled back to the strict ingress",
      (s) => s.rejected?.code === "AGENT_WRITES_FAILING" && s.applied?.address === strict.address,
      120_000,
    );
    expect(rolled.rejected?.message).toContain("ResourceExhausted");
    await expectStatus(sc, "writing again after the rollback", (s) => okWrites(s) > 0);
    const after = await sc.status();
    expect(after.agent?.pid).toBe(pid);
    expect(after.agent?.restarts).toBe(0);
    expect(await metric(sc, "parca_agent_sidecar_rollbacks_total", "AGENT_WRITES_FAILING")).toBe(1);
    expect(await metric(sc, "parca_agent_sidecar_agent_restarts_total")).toBe(0);
    // No token in any log line or status.
    for (const token of ["old-token-1", "new-token-2"]) {
      expect(sc.text()).not.toContain(token);
      expect(
        JSON.stringify(after, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
      ).not.toContain(token);
    }
    expect(await sc.stop()).toBe(0);
  }, 300_000);

  it("the agent in its own container pointed at the relay: the sidecar killed and started again by its supervisor, the agent's writes resume on the same pid; nothing left behind", async () => {
    const a = await startParca();
    const dir = await tempDir("pas-relay-pod-");
    const socket = join(dir, "relay.sock");
    const relation = join(dir, "relation.json");
    await writeRelation(relation, plaintext(a.address));
    const sidecarArgs = [
      ...["--relation", relation, "--state-dir", join(dir, "state"), "--debounce-ms", "20"],
      ...["--mode", "external", "--relay", `unix:${socket}`, "--agent-version", version],
    ];
    const first = await startSidecar(sidecarArgs);
    const { args, node } = await agentArgs("relay-pod");
    // The official agent image's flags, fixed at the relay's address; its container waits on
    // the sidecar's startup probe.
    const kubelet = new KubeletStandIn({
      binary: AGENT,
      args: [...args, `--remote-store-address=unix://${socket}`, "--remote-store-insecure"],
      startupGate: async () => (await first.health("startup")) === Serving.SERVING,
    });
    kubelet.start();
    afterTest(() => kubelet.stop());
    const delivering = await expectStatus(first, "delivering through the relay", (s) => {
      return s.applied?.address === a.address && okWrites(s) > 0;
    });
    expect(delivering.agent?.state).toBe(AgentState.EXTERNAL);
    await profilesOf(a, node, first);

    await first.kill();
    const second = await startSidecar(sidecarArgs);
    // The last-known-good is applied at start; the agent's gRPC client reconnects by itself.
    await expectStatus(second, "writes resumed through the new relay", (s) => {
      return s.applied?.address === a.address && okWrites(s) > 0;
    });
    expect(kubelet.starts).toHaveLength(1);
    expect(await second.stop()).toBe(0);
    // The relay's socket goes with it; the agent, not the sidecar's, is still the first one.
    expect(existsSync(socket)).toBe(false);
    expect(kubelet.starts).toHaveLength(1);
    await kubelet.stop();
  }, 240_000);
});
