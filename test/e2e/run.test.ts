import { readFileSync, statSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { AgentState, Phase, type Status } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { refusedPort } from "../support/endpoints.js";
import { KeyDirectory } from "../support/keydir.js";
import { recordedStarts, standinProcesses, standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import type { Sidecar } from "../support/sidecar.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();
const store = startStore;

interface Env {
  dir: string;
  relation: string;
  record: string;
  stateDir: string;
}

async function env(): Promise<Env> {
  const dir = await tempDir();
  return {
    dir,
    relation: join(dir, "relation.json"),
    record: join(dir, "starts.jsonl"),
    stateDir: join(dir, "state"),
  };
}

async function sidecar(
  e: Env,
  extra: string[] = [],
  processEnv: NodeJS.ProcessEnv = {},
): Promise<Sidecar> {
  return startSidecar(
    [
      ...standinRun(e.relation, e.stateDir),
      "--debounce-ms",
      "20",
      "--remove-grace-ms",
      "300",
      "--min-uptime-ms",
      "4000",
      "--stop-timeout-ms",
      "5000",
      ...extra,
      "--",
      "--node=e2e",
    ],
    { STANDIN_RECORD: e.record, ...processEnv },
  );
}

const starts = (e: Env) => recordedStarts(e.record);
const addressOf = (argv: readonly string[]) =>
  argv.find((a) => a.startsWith("--remote-store-address="))?.split("=")[1];

describe("run, end to end", () => {
  it("applies the first config: checked, agent started with the flags, RUNNING and ready", async () => {
    const e = await env();
    const s1 = await store();
    const sc = await sidecar(e);
    const waiting = await sc.status();
    expect(waiting.phase).toBe(Phase.WAITING_FOR_RELATION);
    expect(waiting.sources[0]?.warnings.map((w) => w.code)).toEqual(["SOURCE_MISSING"]);
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
    expect(await sc.health("liveness")).toBe(Serving.SERVING);
    expect(await sc.health("")).toBe(Serving.SERVING);
    await writeRelation(e.relation, plaintext(s1.address));
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(running.applied).toMatchObject({ address: s1.address, insecure: true, tokenSet: false });
    expect(running.desired?.address).toBe(s1.address);
    expect(running.lastCheck?.ok).toBe(true);
    expect(running.agent?.state).toBe(AgentState.RUNNING);
    expect(running.agentArgs).toEqual([
      "--node=e2e",
      `--remote-store-address=${s1.address}`,
      "--remote-store-insecure=true",
    ]);
    expect(running.sources[0]).toMatchObject({ path: e.relation, configured: true, warnings: [] });
    expect(running.message).toContain(s1.address);
    await sc.waitReady(true);
    await waitFor("the agent's start", () => starts(e).length === 1);
    expect(starts(e)[0]?.argv).toEqual(running.agentArgs);
    expect(statSync(join(e.stateDir, "last-known-good.json")).mode & 0o777).toBe(0o600);
  });

  it("applies a token change, holds a wrong token (agent untouched, DEGRADED, UNAUTHENTICATED, still ready), then applies the fix", async () => {
    const e = await env();
    const s1 = await store({ token: "good-token-1" });
    const sc = await sidecar(e, ["--token-mode", "file"]);
    await writeRelation(e.relation, {
      "remote-store-address": s1.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "good-token-1",
    });
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("first start", () => starts(e).length === 1);
    expect(starts(e)[0]?.tokenFromFile).toBe("good-token-1");
    const firstPid = (await sc.status()).agent?.pid;

    await writeRelation(e.relation, {
      "remote-store-address": s1.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "wrong-token-2",
    });
    const held = await sc.waitStatus("DEGRADED", (s) => s.phase === Phase.DEGRADED);
    expect(held.lastCheck?.diagnosis?.code).toBe("UNAUTHENTICATED");
    expect(held.message).toMatch(/^holding 127\.0\.0\.1:\d+: .*remote-store-bearer-token/);
    expect(held.agent?.pid).toBe(firstPid);
    expect(held.applied?.address).toBe(s1.address);
    expect(await sc.health("readiness")).toBe(Serving.SERVING);
    expect(starts(e)).toHaveLength(1);
    expect(readFileSync(join(e.stateDir, "bearer-token"), "utf8")).toBe("good-token-1");

    // The token is rotated at the store and in the relation: applied, agent restarted.
    await s1.stop();
    const s2 = await store({ token: "good-token-3", port: s1.port });
    await writeRelation(e.relation, {
      "remote-store-address": s2.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "good-token-3",
    });
    await waitFor(
      "the restart with the new token",
      () => starts(e).at(-1)?.tokenFromFile === "good-token-3",
    );
    const fixed = await sc.waitStatus("RUNNING again", (s) => s.phase === Phase.RUNNING);
    expect(fixed.agent?.restarts).toBe(1);
    expect(readFileSync(join(e.stateDir, "bearer-token"), "utf8")).toBe("good-token-3");
  });

  /** Three stores, a sidecar with a long quiet period, its agent running the first store's config. */
  async function onFirstOfThree(debounceMs: number) {
    const e = await env();
    const [a, b, c] = [await store(), await store(), await store()];
    await writeRelation(e.relation, plaintext(a.address));
    const sc = await sidecar(e, ["--debounce-ms", String(debounceMs)]);
    await sc.waitStatus("a applied", (s) => s.applied?.address === a.address);
    await waitFor("a's start recorded", () => starts(e).length === 1);
    return { e, a, b, c, sc };
  }

  it("never restarts the agent for a config that a newer write replaced during its check", async () => {
    // A long quiet period: the held check of b ends well inside the quiet period after c's write.
    const { e, a, b, c, sc } = await onFirstOfThree(2000);
    const release = b.holdHealth();
    await writeRelation(e.relation, plaintext(b.address));
    await waitFor("b's check at the store", () =>
      b.calls.some((call) => call.path === "Health/Check"),
    );
    await writeRelation(e.relation, plaintext(c.address));
    release();
    const done = await sc.waitStatus(
      "c applied",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === c.address,
    );
    expect(done.lastCheck?.ok).toBe(true);
    await waitFor("c's agent start recorded", () => starts(e).length >= 2);
    expect(starts(e).map((start) => addressOf(start.argv))).toEqual([a.address, c.address]);
  });

  it("checks during the quiet period; newer data aborts that check, which is never reported", async () => {
    const { e, a, b, c, sc } = await onFirstOfThree(3000);
    const release = b.holdHealth();
    await writeRelation(e.relation, plaintext(b.address));
    // b's check reaches its store while the quiet period still runs: status has not moved on.
    await waitFor("b's check at the store", () =>
      b.calls.some((call) => call.path === "Health/Check"),
    );
    expect((await sc.status()).desired?.address).toBe(a.address);
    await writeRelation(e.relation, plaintext(c.address));
    await waitFor("c's check at the store", () =>
      c.calls.some((call) => call.path === "Health/Check"),
    );
    release();
    await sc.waitStatus(
      "c applied",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === c.address,
    );
    await waitFor("c's agent start recorded", () => starts(e).length >= 2);
    expect(starts(e).map((start) => addressOf(start.argv))).toEqual([a.address, c.address]);
    expect(sc.statuses.some((s) => s.lastCheck?.address === b.address)).toBe(false);
    expect(sc.statuses.some((s) => s.desired?.address === b.address)).toBe(false);
  });

  it("applies a config whose store comes up late, through the retry loop", async () => {
    const e = await env();
    const port = await refusedPort();
    const sc = await sidecar(e);
    await writeRelation(e.relation, plaintext(`127.0.0.1:${port}`));
    const held = await sc.waitStatus(
      "held",
      (s) => s.lastCheck?.diagnosis?.code === "CONNECTION_REFUSED",
    );
    expect(held.phase).toBe(Phase.DEGRADED);
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
    expect(starts(e)).toHaveLength(0);
    await store({ port });
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("the agent's start", () => starts(e).length === 1);
  });

  it("picks up a Kubernetes ..data swap with the rescan disabled", async () => {
    const e = await env();
    const [a, b] = [await store(), await store()];
    const volume = new KeyDirectory(join(e.dir, "secret"));
    await volume.write({
      "remote-store-address": `${a.address}\n`,
      "remote-store-insecure": "true\n",
    });
    const sc = await sidecar({ ...e, relation: join(e.dir, "secret") }, ["--rescan-ms", "0"]);
    await sc.waitStatus("RUNNING on a", (s) => s.applied?.address === a.address);
    await volume.write({
      "remote-store-address": `${b.address}\n`,
      "remote-store-insecure": "true\n",
    });
    const running = await sc.waitStatus(
      "RUNNING on b",
      (s) => s.applied?.address === b.address && s.phase === Phase.RUNNING,
    );
    expect(running.lastCheck?.ok).toBe(true);
    await waitFor("the restart", () => addressOf(starts(e).at(-1)?.argv ?? []) === b.address);
    // The swap restarted the agent once, with the new address, and nothing came after it.
    const addresses = starts(e).map((s) => addressOf(s.argv));
    expect(addresses.filter((address) => address === b.address)).toHaveLength(1);
    expect(addresses.at(-1)).toBe(b.address);
  });

  it("reports bad relation data per source and leaves the agent untouched", async () => {
    const e = await env();
    const s1 = await store();
    const sc = await sidecar(e);
    await writeRelation(e.relation, plaintext(s1.address));
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    for (const [bag, code] of [
      [{ "remote-store-address": "https://parca.example.com/parca" }, "INVALID_ADDRESS"],
      [{ "remote-store-address": s1.address, "remote-store-insecure": "yes" }, "INVALID_INSECURE"],
    ] as const) {
      await writeRelation(e.relation, bag);
      const bad = await sc.waitStatus(code, (s) => s.sources[0]?.error?.code === code);
      expect(bad.phase).toBe(Phase.INVALID_INPUT);
      expect(bad.sources[0]?.error?.path).toBe(e.relation);
      expect(bad.agent?.pid).toBe(running.agent?.pid);
      expect(bad.message).toContain("invalid");
      expect(await sc.health("readiness")).toBe(Serving.SERVING);
    }
    await writeFile(e.relation, Buffer.from([0xff, 0x00, 0x13]));
    const malformed = await sc.waitStatus(
      "MALFORMED",
      (s) => s.sources[0]?.error?.code === "MALFORMED",
    );
    expect(malformed.agent?.pid).toBe(running.agent?.pid);
    await waitFor("the agent's one start", () => starts(e).length === 1);
    expect(malformed.agent?.restarts).toBe(0);
  });

  it("learns the agent's version from `<agent> --version` and probes the RPC that version writes with", async () => {
    const e = await env();
    const s1 = await store({ writeArrow: false }); // a store only an agent before v0.48 can use
    const sc = await sidecar(e, [], { STANDIN_VERSION: "v0.41.0" });
    await writeRelation(e.relation, plaintext(s1.address));
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(running.lastCheck).toMatchObject({ ok: true, writeRpc: "Write" });
    expect(running.lastCheck?.writeRpcReason).toContain("v0.41.0");
    expect(sc.logs().find((l) => l.event === "agent_version")).toMatchObject({
      version: "v0.41.0",
      from: "--version",
    });
    // An unversioned build says nothing: the newest agent is assumed, which needs WriteArrow.
    const unknown = await sidecar(await env());
    expect(unknown.logs().find((l) => l.event === "agent_version")).toMatchObject({
      version: "unknown",
    });
  });

  it("stops the agent when the relation is removed: NOT_SERVING, WAITING_FOR_RELATION", async () => {
    const e = await env();
    const s1 = await store();
    const sc = await sidecar(e);
    await writeRelation(e.relation, plaintext(s1.address));
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("the agent", () => standinProcesses().length === 2);
    await rm(e.relation);
    const waiting = await sc.waitStatus("WAITING", (s) => s.phase === Phase.WAITING_FOR_RELATION);
    // From the moment the stop began, no status said RUNNING with the agent stopping.
    const stopping = sc.statuses.filter((s) => s.agent?.state === AgentState.STOPPING);
    expect(stopping.length).toBeGreaterThan(0);
    expect(stopping.every((s) => s.phase !== Phase.RUNNING && !s.ready)).toBe(true);
    const afterStop = sc.statuses.slice(sc.statuses.indexOf(stopping[0] as never));
    expect(afterStop.every((s) => s.phase !== Phase.RUNNING)).toBe(true);
    expect(waiting.applied).toBeUndefined();
    expect(waiting.agent?.state).toBe(AgentState.STOPPED);
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
    await waitFor("no agent", () => standinProcesses().length === 0);
  });

  it("a truncate-then-write within the grace period does not stop the agent", async () => {
    const e = await env();
    const s1 = await store();
    const sc = await sidecar(e, ["--remove-grace-ms", "3000"]);
    await writeRelation(e.relation, plaintext(s1.address));
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("the agent's start", () => starts(e).length === 1);
    await writeFile(e.relation, "");
    await sc.waitStatus("relation gone", (s) => s.desired === undefined);
    await writeFile(
      e.relation,
      JSON.stringify({ "remote-store-address": s1.address, "remote-store-insecure": "true" }),
    );
    const back = await sc.waitStatus(
      "back",
      (s) => s.desired !== undefined && s.phase === Phase.RUNNING,
    );
    expect(back.agent?.pid).toBe(running.agent?.pid);
    expect(starts(e)).toHaveLength(1);
  });

  it("restarted with the store down, starts the last-known-good at once", async () => {
    const e = await env();
    const s1 = await store();
    const first = await sidecar(e);
    await writeRelation(e.relation, plaintext(s1.address));
    await first.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("the agent's start", () => starts(e).length === 1);
    expect(await first.stop()).toBe(0);
    expect(standinProcesses()).toEqual([]);
    await s1.stop();
    const second = await sidecar(e);
    await waitFor("the agent restarted from last-known-good", () => starts(e).length === 2);
    expect(starts(e)[1]?.argv).toEqual(starts(e)[0]?.argv);
    const st = await second.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(st.applied?.address).toBe(s1.address);
    expect(second.logs().some((l) => l.event === "known_good_started")).toBe(true);
  });

  it("rolls back a new config whose agent crash-loops, and marks it rejected", async () => {
    const e = await env();
    const [good, bad] = [await store(), await store()];
    const sc = await sidecar(e, [], { STANDIN_CRASH_ADDRESS: bad.address });
    await writeRelation(e.relation, plaintext(good.address));
    await sc.waitStatus("RUNNING on good", (s) => s.phase === Phase.RUNNING);
    await writeRelation(e.relation, plaintext(bad.address));
    const rolled = await sc.waitStatus(
      "rolled back",
      (s) =>
        s.phase === Phase.DEGRADED &&
        s.applied?.address === good.address &&
        s.message.startsWith("rolled back"),
      60_000,
    );
    expect(rolled.message).toContain(`panic: cannot run against ${bad.address}`);
    expect(rolled.desired?.address).toBe(bad.address);
    expect(rolled.agent?.lastExit?.stderrTail.at(-1)).toContain("panic");
    await waitFor(
      "good agent running",
      () => addressOf(starts(e).at(-1)?.argv ?? []) === good.address,
    );
    // A Reload forgets the rejection: the bad config is tried again.
    await sc.reload();
    await sc.waitStatus(
      "tried again",
      (s) =>
        s.applied?.address === bad.address ||
        s.phase === Phase.CHECKING ||
        s.message.startsWith("the agent runs"),
      30_000,
    );
  });

  it("CheckStore checks the desired config; Reload answers with the status", async () => {
    const e = await env();
    const s1 = await store();
    const sc = await sidecar(e);
    const none = await sc.checkStore();
    expect(none.result?.diagnosis?.code).toBe("NOT_CONFIGURED");
    await writeRelation(e.relation, plaintext(s1.address));
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    const [a, b] = await Promise.all([sc.checkStore(), sc.checkStore()]);
    expect(a.result?.diagnosis).toBeUndefined();
    expect(a.result?.ok).toBe(true);
    expect(b.result?.ok).toBe(true);
    const reloaded = await sc.reload();
    expect(reloaded.status?.phase).toBe(Phase.RUNNING);
  });

  it("serves only the health service on --health-listen", async () => {
    const e = await env();
    const port = await refusedPort();
    const sc = await sidecar(e, ["--health-listen", `127.0.0.1:${port}`]);
    expect(sc.healthAddress).toBe(`127.0.0.1:${port}`);
    expect(await sc.health("liveness", sc.healthAddress)).toBe(Serving.SERVING);
    expect(await sc.health("readiness", sc.healthAddress)).toBe(Serving.NOT_SERVING);
    expect(await sc.health("nope", sc.healthAddress)).toBe("NOT_FOUND");
  });

  it("SIGTERM stops the agent gracefully and exits 0; a SIGKILLed sidecar's agent is stopped by the next", async () => {
    const e = await env();
    const s1 = await store();
    const first = await sidecar(e);
    await writeRelation(e.relation, plaintext(s1.address));
    await first.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("the agent", () => standinProcesses().length === 2);
    const orphanPids = standinProcesses().map((p) => p.pid);
    await first.kill();
    expect(standinProcesses().map((p) => p.pid)).toEqual(orphanPids); // outlives its sidecar
    const second = await sidecar(e);
    await second.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("one agent", () => {
      const alive = standinProcesses();
      return alive.length === 2 && alive.every((p) => !orphanPids.includes(p.pid));
    });
    expect(await second.stop()).toBe(0);
    expect(standinProcesses()).toEqual([]);
    expect(second.logs().some((l) => l.event === "predecessor_stopped")).toBe(true);
  });

  it("never prints or serves the token: every byte and every status", async () => {
    const e = await env();
    const token = 'Tok"en\\e2e-SECRET-42';
    const s1 = await store({ token });
    const sc = await sidecar(e, ["--log-level", "debug"]);
    await writeRelation(e.relation, {
      "remote-store-address": s1.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": token,
    });
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await waitFor("agent output forwarded", () => sc.text().includes("agent running with"));
    await writeRelation(e.relation, {
      "remote-store-address": s1.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": `${token}-wrong`,
    });
    await sc.waitStatus("held", (s) => s.phase === Phase.DEGRADED);
    await sc.checkStore();
    const all = [
      ...sc.output,
      ...sc.statuses.map((s: Status) =>
        JSON.stringify(s, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
      ),
    ].join("\n");
    expect(all).toContain("<redacted>");
    for (const form of [token, JSON.stringify(token).slice(1, -1), "e2e-SECRET-42"])
      expect(all).not.toContain(form);
    expect(sc.statuses.length).toBeGreaterThan(2);
  });
});
