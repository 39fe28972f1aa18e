// `run --relay` with a stand-in agent that really writes, and grpc-js stores: the agent started
// once on the relay's socket, store changes and removals that touch no process, the socket's
// mode and group, and the options' rules.
import { rm, stat } from "node:fs/promises";
import * as http2 from "node:http2";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { DeliveryState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { runCli, spawnCli } from "../support/cli.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { freePort } from "../support/ingress.js";
import { recordedStarts, standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

/** A gRPC call on the relay's socket, as an agent would make it: its status and message. */
function callRelay(socket: string): Promise<{ code: number; details: string }> {
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw",
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      (err) => {
        client.close();
        resolve({ code: err?.code ?? 0, details: err?.details ?? "" });
      },
    );
  });
}

async function relayed(extra: string[] = []) {
  const dir = await tempDir("pas-relay-");
  const relation = join(dir, "relation.json");
  const socket = join(dir, "run", "relay.sock");
  const record = join(dir, "starts.jsonl");
  const sc = await startSidecar(
    [
      ...standinRun(relation, join(dir, "state")),
      ...["--relay", `unix:${socket}`, "--delivery-timeout-ms", "4000", ...extra],
      ...["--metrics-listen", "127.0.0.1:0", "--agent-version", "v0.49.0"],
      "--",
      `--http-address=127.0.0.1:${await freePort()}`,
      "--remote-store-bearer-token=the-agents-own",
    ],
    { STANDIN_RECORD: record },
  );
  return { sc, dir, relation, socket, record };
}

describe("run --relay", () => {
  it("listens before any store, refusing calls with why, the agent already started on the socket (0600), tokenless; a to b to a token-demanding c, no restart; the per-store metrics", async () => {
    const { sc, relation, socket, record } = await relayed();
    // No relation data yet: the relay listens and refuses, saying why; the agent is started at
    // once on it, and waits there for a store.
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    const refused = await callRelay(socket);
    expect(refused.code).toBe(grpc.status.UNAVAILABLE);
    expect(refused.details).toContain("no store is configured yet");
    await waitFor("the agent started on the relay", () => recordedStarts(record).length === 1);
    const waiting = await sc.status();
    expect(waiting.phase).toBe(Phase.WAITING_FOR_RELATION);

    const [a, b] = [await startStore(), await startStore()];
    const c = await startStore({ token: "store-token-c" });
    await writeRelation(relation, plaintext(a.address));
    const onA = await sc.waitStatus(
      "DELIVERING on a",
      (s) => s.applied?.address === a.address && s.delivery?.state === DeliveryState.DELIVERING,
    );
    expect(onA.delivery?.relay).toBe(`unix:${socket}`);
    const printed = await runCli(["status", "--address", sc.address]);
    expect(printed.stdout).toMatch(
      new RegExp(
        `^delivery: DELIVERING, \\d+ ok, 0 failed, .* as the relay unix:${socket} saw them$`,
        "m",
      ),
    );
    await waitFor("writes at a", () => a.writes > 0);
    const [start] = recordedStarts(record);
    // The operator's token flag goes: the agent gets none, the relay carries the store's.
    expect(start?.argv.slice(-2)).toEqual([
      `--remote-store-address=unix://${socket}`,
      "--remote-store-insecure=true",
    ]);
    expect(start?.argv.join(" ")).not.toContain("bearer-token");

    for (const store of [b, a, c]) {
      const config =
        store === c
          ? { ...plaintext(c.address), "remote-store-bearer-token": "store-token-c" }
          : plaintext(store.address);
      await writeRelation(relation, config);
      const before = store.writes;
      await sc.waitStatus(
        `proven on ${store.address}`,
        (s) => s.applied?.address === store.address && Number(s.delivery?.okWrites) > 0,
      );
      await waitFor(`writes at ${store.address}`, () => store.writes > before);
    }
    expect(recordedStarts(record)).toHaveLength(1);
    const st = await sc.status();
    expect(st.agent?.restarts).toBe(0);
    expect(st.phase).toBe(Phase.RUNNING);
    // c saw the relation's token, and only that one.
    const auth = c.calls
      .filter((call) => call.path === "WriteArrow")
      .map((call) => call.metadata.authorization);
    expect(new Set(auth.map((v) => JSON.stringify(v)))).toEqual(
      new Set([JSON.stringify(["Bearer store-token-c"])]),
    );

    const metrics = await (await fetch(`http://${sc.metricsAddress}/metrics`)).text();
    for (const store of [a, b, c]) {
      expect(metrics).toMatch(
        new RegExp(`parca_agent_sidecar_relay_calls_total\\{store="${store.address}"\\} [1-9]`),
      );
      expect(metrics).toMatch(
        new RegExp(
          `parca_agent_sidecar_relay_bytes_total\\{store="${store.address}",direction="up"\\} [1-9]`,
        ),
      );
    }
    expect(metrics).toContain('parca_agent_sidecar_agent_restarts_total{reason="config"} 0');
    expect(metrics).toMatch(/parca_agent_sidecar_config_applies_total 4/);
    expect(sc.text()).not.toContain("store-token-c");
    expect(await sc.stop()).toBe(0);
  });

  it("the relation removed: new calls refused with why, the agent kept running; the next relation data makes writes flow again, still no restart", async () => {
    const { sc, relation, socket, record } = await relayed(["--remove-grace-ms", "0"]);
    const a = await startStore();
    await writeRelation(relation, plaintext(a.address));
    const onA = await sc.waitStatus("proven on a", (s) => Number(s.delivery?.okWrites) > 0);
    await rm(relation);
    await sc.waitStatus("nothing applied", (s) => s.applied === undefined);
    const refused = await callRelay(socket);
    expect(refused.code).toBe(grpc.status.UNAVAILABLE);
    expect(refused.details).toContain("the parca_store relation was removed");
    const now = await sc.status();
    expect(now.agent?.pid).toBe(onA.agent?.pid);
    expect(recordedStarts(record)).toHaveLength(1);

    const b = await startStore();
    await writeRelation(relation, plaintext(b.address));
    await sc.waitStatus(
      "proven on b",
      (s) => s.applied?.address === b.address && Number(s.delivery?.okWrites) > 0,
    );
    expect((await sc.status()).agent?.pid).toBe(onA.agent?.pid);
    expect(recordedStarts(record)).toHaveLength(1);
    expect(await sc.stop()).toBe(0);
  });

  it("a store that refuses the agent's writes: rolled back by the relay's own count, with the store's code, without a restart", async () => {
    const { sc, relation, record } = await relayed();
    const a = await startStore();
    await writeRelation(relation, plaintext(a.address));
    await sc.waitStatus("proven on a", (s) => Number(s.delivery?.okWrites) > 0);
    const quota = await startStore({ writeStatus: grpc.status.RESOURCE_EXHAUSTED });
    await writeRelation(relation, plaintext(quota.address));
    const rolled = await sc.waitStatus(
      "rolled back",
      (s) => s.rejected?.code === "AGENT_WRITES_FAILING",
    );
    expect(rolled.rejected?.message).toContain("ResourceExhausted");
    await sc.waitStatus(
      "back on a, writing",
      (s) => s.applied?.address === a.address && Number(s.delivery?.okWrites) > 0,
    );
    expect(recordedStarts(record)).toHaveLength(1);
    expect(await sc.stop()).toBe(0);
  });

  it("hostile input on the socket (HTTP/1.1, random bytes, a 200 KiB header block, a connection left open): refused, the sidecar and the agent's writes unharmed", async () => {
    const { sc, relation, socket } = await relayed();
    const a = await startStore();
    await writeRelation(relation, plaintext(a.address));
    await sc.waitStatus("proven on a", (s) => Number(s.delivery?.okWrites) > 0);
    const answer = (bytes: Buffer) =>
      new Promise<string>((resolve) => {
        const conn = netConnect(socket);
        let got = "";
        conn.on("data", (d: Buffer) => {
          got += d.toString("latin1");
        });
        conn.on("error", () => resolve(got));
        conn.on("close", () => resolve(got));
        conn.write(bytes);
        setTimeout(() => conn.end(), 200);
      });
    await answer(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await answer(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
    const idle = netConnect(socket); // opened and never used
    const big = await new Promise<number | undefined>((resolve) => {
      const session = http2.connect("http://localhost", {
        createConnection: () => netConnect(socket),
      });
      session.on("error", () => undefined);
      const stream = session.request({
        ":method": "POST",
        ":path": "/parca.profilestore.v1alpha1.ProfileStoreService/WriteArrow",
        "content-type": "application/grpc",
        "x-padding": "p".repeat(200 * 1024),
      });
      stream.on("error", () => undefined);
      stream.on("close", () => {
        resolve(stream.rstCode);
        session.close();
      });
      stream.end();
    });
    expect(big).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
    const before = a.writes;
    await waitFor("the agent's writes going on", () => a.writes > before + 5);
    expect((await sc.status()).phase).toBe(Phase.RUNNING);
    idle.destroy();
    expect(await sc.stop()).toBe(0);
  });

  it("--relay-group: the socket 0660 in that group", async () => {
    const gid = process.getgid?.() ?? 0;
    const { sc, socket } = await relayed(["--relay-group", String(gid)]);
    const info = await stat(socket);
    expect(info.mode & 0o777).toBe(0o660);
    expect(info.gid).toBe(gid);
    expect(await sc.stop()).toBe(0);
  });

  it("external mode with --relay: no flags file, nothing restarted; the agent runs elsewhere, and status says so", async () => {
    const dir = await tempDir("pas-relay-ext-");
    const relation = join(dir, "relation.json");
    const a = await startStore();
    await writeRelation(relation, plaintext(a.address));
    const socket = join(dir, "relay.sock");
    const sc = await startSidecar([
      ...["--relation", relation, "--state-dir", join(dir, "state")],
      ...["--mode", "external", "--relay", `unix:${socket}`],
    ]);
    const st = await sc.waitStatus("applied", (s) => s.applied?.address === a.address);
    expect(st.message).toContain(`the agent runs elsewhere, pointed at the relay unix:${socket}`);
    // Nothing calls yet: the proof waits on the agent's first call through the relay.
    expect(st.delivery?.state).toBe(DeliveryState.WAITING);
    expect(await sc.stop()).toBe(0);
  });

  it("refuses what it cannot honour, before anything starts", async () => {
    const base = ["run", "--relation", "/r.json"];
    const cases: [string[], RegExp][] = [
      [["--relay", "10.0.0.5:7075"], /loopback only/],
      [["--relay", "0.0.0.0:7075"], /loopback only/],
      [["--relay", "unix:relay.sock"], /unix:\/absolute\/path/],
      [
        ["--relay", "unix:/r.sock", "--mode", "external", "--flags-file", "/f"],
        /--flags-file has nothing to do/,
      ],
      [
        ["--relay", "unix:/r.sock", "--mode", "external", "--restart-command", "true"],
        /--restart-command has nothing to do/,
      ],
      [["--relay-group", "adm"], /--relay-group is for --relay/],
      [["--relay", "127.0.0.1:7075", "--relay-group", "adm"], /for a unix socket relay/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli([...base, ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("a relay address already taken: exit 1, saying so", async () => {
    const taken = await startStore();
    const dir = await tempDir();
    const result = await spawnCli([
      ...["run", "--relation", join(dir, "r.json"), "--state-dir", join(dir, "state")],
      ...["--mode", "external", "--relay", taken.address, "--listen", "127.0.0.1:0"],
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot listen for the relay");
    expect(result.stderr).toContain("EADDRINUSE");
  });
});
