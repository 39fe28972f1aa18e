// The real parca-agent releases under the sidecar — v0.41.0 (the Write stream) and v0.49.0
// (WriteArrow) — with real Parca v0.28.0 servers (and Debian's nginx) on loopback: what happens,
// and in what order. Each scenario runs with both agents, each test with its own stores and agent
// metrics port. A missing test build fails the file, naming what to provide.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentState, DeliveryState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { makePki } from "../support/certs.js";
import { afterTest, cleanUpAfterEach, startParca } from "../support/e2e.js";
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
import { ROOT } from "../support/root.js";
import { tempDir } from "../support/tmp.js";

noRealAgentAfterEach();
cleanUpAfterEach();
const pki = makePki();
const parca = startParca;

describe.each(AGENT_VERSIONS)("the real parca-agent %s", (version) => {
  const AGENT = realAgentBinary(version);
  /** The RPC this release writes with by default. */
  const rpc = version === "v0.41.0" ? "Write" : "WriteArrow";
  const sidecar = (relation: string, args: string[], agentArgv: string[], env = {}) =>
    realSidecar(AGENT, relation, args, agentArgv, env);

  it("supervise mode, base args ending in a bare boolean: its version learned, checked with its own write RPC, started, its profiles queryable and its writes counted; moved to a second Parca, its worker exits 0 by itself; SIGTERM leaves nothing", async () => {
    const [a, b] = [await parca(), await parca()];
    const relation = join(await tempDir(), "relation.json");
    await writeRelation(relation, plaintext(a.address));
    const { args } = await agentArgs("node-1");
    const sc = await sidecar(relation, [], args);
    const onA = await expectStatus(
      sc,
      "RUNNING on a",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === a.address,
    );
    // The version came from `parca-agent --version`: the check probed the agent's own RPC.
    expect(onA.lastCheck).toMatchObject({ ok: true, writeRpc: rpc });
    expect(onA.lastCheck?.writeRpcReason).toContain(`agent ${version.slice(1)}`);
    expect(onA.lastCheck?.stages.map((st) => st.name).at(-1)).toBe(
      rpc === "Write" ? "write" : "arrow",
    );
    expect(onA.agentArgs.slice(-2)).toEqual([
      `--remote-store-address=${a.address}`,
      "--remote-store-insecure=true",
    ]);
    await profilesOf(a, "real-node-1", sc);
    const delivering = await expectStatus(
      sc,
      "DELIVERING",
      (s) => s.delivery?.state === DeliveryState.DELIVERING,
    );
    expect(Number(delivering.delivery?.okWrites)).toBeGreaterThan(0);

    await writeRelation(relation, plaintext(b.address));
    await expectStatus(
      sc,
      "RUNNING on b",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address,
    );
    await profilesOf(b, "real-node-1", sc);
    // The old worker exited 0 through its own SIGTERM handler and its parent followed:
    // nothing was killed.
    expect(sc.text()).toContain("Subprocess completed <nil> exit: 0");
    expect(sc.logs().filter((l) => l.event === "agent_stopped")).toEqual([
      expect.objectContaining({ how: "terminated" }),
    ]);
    expect(sc.logs().some((l) => l.event === "agent_leftovers_stopped")).toBe(false);
    expect(await sc.stop()).toBe(0);
    expect(realAgentProcesses()).toEqual([]);
  });

  it("tokens through nginx demanding authorization: flag and file mode deliver; a rotated wrong token is held by the check; a token refused only at the Write route is refused by the check", async () => {
    const a = await parca();
    const demand = 'if ($http_authorization != "Bearer right-token-1") { return 401; }';
    const { ingress, caFile } = await nginxInFront(a, pki, demand);
    const relation = join(await tempDir(), "relation.json");
    await writeRelation(relation, tlsWithToken(ingress.address, "right-token-1"));
    // The agent trusts the CA through the node's roots (SSL_CERT_FILE), as the check does.
    const flag = await sidecar(relation, [], (await agentArgs("flag")).args, {
      SSL_CERT_FILE: caFile,
    });
    const running = await expectStatus(
      flag,
      "RUNNING with the token flag",
      (s) => s.phase === Phase.RUNNING && s.applied?.tokenSet === true,
    );
    expect(running.agentArgs.at(-1)).toBe("--remote-store-bearer-token=<redacted>");
    await profilesOf(a, "real-flag", flag);
    await writeRelation(relation, tlsWithToken(ingress.address, "rotated-wrong-2"));
    const held = await expectStatus(flag, "held", (s) => s.lastCheck?.ok === false);
    expect(held.lastCheck?.diagnosis?.code).toBe("UNAUTHENTICATED");
    expect(held.agent?.pid).toBe(running.agent?.pid);
    expect(held.phase).toBe(Phase.DEGRADED);
    expect(await flag.stop()).toBe(0);

    await writeRelation(relation, tlsWithToken(ingress.address, "right-token-1"));
    const file = await sidecar(relation, ["--token-mode", "file"], (await agentArgs("file")).args, {
      SSL_CERT_FILE: caFile,
    });
    const viaFile = await expectStatus(file, "RUNNING with the token file", (s) => {
      return s.phase === Phase.RUNNING && s.applied?.tokenSet === true;
    });
    expect(viaFile.agentArgs.at(-1)).toMatch(/^--remote-store-bearer-token-file=/);
    await profilesOf(a, "real-file", file);
    expect(await file.stop()).toBe(0);

    // An ingress that guards only the agent's own RPC, by exact match: the check probes
    // exactly that RPC, so the token is refused before any agent starts.
    const write = `/parca.profilestore.v1alpha1.ProfileStoreService/${rpc}`;
    const guarded = await nginxInFront(
      a,
      pki,
      "",
      `    location = ${write} { if ($http_authorization != "Bearer write-token-3") { return 403; } grpc_pass grpc://${a.address}; }`,
    );
    await writeRelation(relation, tlsWithToken(guarded.ingress.address, "other-token-4"));
    const refused = await sidecar(relation, [], (await agentArgs("guarded")).args, {
      SSL_CERT_FILE: guarded.caFile,
    });
    const refusal = await expectStatus(refused, "refused", (s) => s.lastCheck?.ok === false);
    expect(refusal.lastCheck?.diagnosis?.code).toBe("PERMISSION_DENIED");
    expect(refusal.lastCheck?.writeRpc).toBe(rpc);
    expect(refusal.agent?.state).not.toBe(AgentState.RUNNING);
    expect(realAgentProcesses()).toEqual([]);
    expect(`${flag.text()}${file.text()}${refused.text()}`).not.toMatch(
      /right-token-1|rotated-wrong-2|other-token-4/,
    );
  });

  it("a CA given to the sidecar (--ca-file) but not to the agent: rolled back AGENT_NOT_CONNECTED, with the agent's own words", async () => {
    const a = await parca();
    const { ingress, caFile } = await nginxInFront(a, pki);
    const relation = join(await tempDir(), "relation.json");
    await writeRelation(relation, plaintext(a.address));
    const sc = await sidecar(
      relation,
      ["--ca-file", caFile, "--delivery-timeout-ms", "25000"],
      (await agentArgs("ca")).args,
    );
    await expectStatus(sc, "DELIVERING on a", (s) => {
      return s.applied?.address === a.address && s.delivery?.state === DeliveryState.DELIVERING;
    });
    await writeRelation(relation, tlsWithToken(ingress.address, "any-token-5"));
    // The check passes (it trusts --ca-file); the agent does not, and says so.
    const said = await expectStatus(sc, "the agent's words", (s) => {
      return (
        s.applied?.address === ingress.address && /x509|certificate/.test(s.agent?.lastWords ?? "")
      );
    });
    expect(said.agent?.lastWords).toContain("Failed to setup gRPC connection");
    expect(said.message).toContain("the agent says");
    const rolledBack = await expectStatus(
      sc,
      "rolled back",
      (s) => s.rejected !== undefined && s.applied?.address === a.address,
    );
    expect(rolledBack.rejected?.code).toBe("AGENT_NOT_CONNECTED");
    expect(rolledBack.rejected?.message).toContain("Failed to setup gRPC connection");
    expect(rolledBack.phase).toBe(Phase.DEGRADED);
  });

  it("the worker failing after start while its parent cannot report the panic (503): the crash and the worker's words in status, the parent stopped, restarted with backoff", async () => {
    const a = await parca();
    const { ingress, caFile } = await nginxInFront(
      a,
      pki,
      "",
      "    location /parca.telemetry.v1alpha1.TelemetryService/ { return 503; }",
    );
    const relation = join(await tempDir(), "relation.json");
    await writeRelation(relation, tlsWithToken(ingress.address, "a-token-6"));
    const { args } = await agentArgs("crash");
    const sc = await sidecar(relation, [], [...args, "--tracers=bogus"], {
      SSL_CERT_FILE: caFile,
    });
    const crashed = await expectStatus(sc, "the worker's exit", (s) => {
      return s.agent?.lastExit?.worker === true && s.agent.state === AgentState.BACKOFF;
    });
    expect(crashed.agent?.lastExit?.stderrTail.join("\n")).toContain(
      "Failed to parse the included tracers",
    );
    expect(crashed.message).toContain("the agent's worker exited (1)");
    // The lingering parent was stopped, not left retrying its report for minutes.
    await waitFor("the parent stopped", () =>
      sc.logs().some((l) => l.event === "agent_leftovers_stopped"),
    );
    const again = await expectStatus(sc, "restarted", (s) => (s.agent?.crashes ?? 0) >= 2);
    expect(again.agent?.restarts).toBeGreaterThanOrEqual(1);
    expect(await sc.stop()).toBe(0);
  });

  it("external mode: a restart command starts the agent with the flags file; it delivers to each store in turn; the sidecar's SIGTERM exits 0 and leaves the agent to its manager", async () => {
    const [a, b] = [await parca(), await parca()];
    const dir = await tempDir("pas-external-");
    const relation = join(dir, "relation.json");
    const flags = join(dir, "agent.flags");
    const pidfile = join(dir, "agent.pid");
    await writeRelation(relation, plaintext(a.address));
    afterTest(async () => {
      const pid = Number(await readFile(pidfile, "utf8").catch(() => "0"));
      if (pid > 1) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // gone
        }
        await waitFor("the external agent gone", () => realAgentProcesses().length === 0);
      }
    });
    const service = join(ROOT, "test", "support", "commands", "agent-service.sh");
    const sc = await sidecar(
      relation,
      [
        "--mode",
        "external",
        "--flags-file",
        flags,
        "--flags-format",
        "args",
        "--restart-command",
        `${service} ${AGENT} ${flags} ${pidfile} ${join(dir, "agent.log")}`,
        "--agent-pidfile",
        pidfile,
        "--agent-version",
        version,
        "--on-remove",
        "keep",
      ],
      (await agentArgs("external")).args,
    );
    await expectStatus(sc, "RUNNING on a", (s) => {
      return s.phase === Phase.RUNNING && s.applied?.address === a.address;
    });
    await profilesOf(a, "real-external", sc);
    await writeRelation(relation, plaintext(b.address));
    const onB = await expectStatus(sc, "DELIVERING on b", (s) => {
      return s.applied?.address === b.address && s.delivery?.state === DeliveryState.DELIVERING;
    });
    expect(onB.agent?.state).toBe(AgentState.EXTERNAL);
    expect(onB.agent?.problem).toBeUndefined(); // what runs is what was rendered
    await profilesOf(b, "real-external", sc);
    expect(await sc.stop()).toBe(0);
    // The agent belongs to its service manager: still running, stopped by the test.
    expect(realAgentProcesses().length).toBeGreaterThan(0);
  });
});
