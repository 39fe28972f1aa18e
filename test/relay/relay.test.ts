// The relay (src/relay/) between a gRPC client and stores on loopback: an echo service the relay
// knows nothing of, so every kind of call is forwarded at the HTTP/2 level; the token and headers
// it adds; switching stores with a call in flight; flow control; hostile peers.
import { stat } from "node:fs/promises";
import * as http2 from "node:http2";
import { connect } from "node:net";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { parseRelayAddress, RelayAddressError } from "../../src/relay/address.js";
import { Relay, type RelayCall, type RelayUpstream } from "../../src/relay/relay.js";
import { makePki } from "../support/certs.js";
import { waitFor } from "../support/procs.js";
import { tempDir } from "../support/tmp.js";

const raw = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
/** A service of the test's own: the relay has never heard of it. */
const ECHO = {
  unary: { path: "/test.Echo/Unary", requestStream: false, responseStream: false, ...raw },
  fail: { path: "/test.Echo/Fail", requestStream: false, responseStream: false, ...raw },
  sum: { path: "/test.Echo/Sum", requestStream: true, responseStream: false, ...raw },
  flood: { path: "/test.Echo/Flood", requestStream: false, responseStream: true, ...raw },
  chat: { path: "/test.Echo/Chat", requestStream: true, responseStream: true, ...raw },
} satisfies grpc.ServiceDefinition;

interface EchoStore {
  readonly name: string;
  /** Set once the server is bound. */
  address: string;
  /** Every call's authorization headers and x-extra header, as the store saw them. */
  readonly seen: { path: string; authorization: string[]; extra: string[] }[];
  /** Flood: bytes the store got into its stream, and whether its last write is waiting. */
  flood: { pushed: number; blockedSince: number | undefined };
  /** Chat calls in progress, to end one from the test. */
  readonly chats: grpc.ServerDuplexStream<Buffer, Buffer>[];
}

const MAX = 64 * 1024 * 1024;
const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function echoStore(name: string, tls?: ReturnType<typeof makePki>): Promise<EchoStore> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX,
    "grpc.max_send_message_length": MAX,
  });
  const store: EchoStore = {
    name,
    address: "",
    seen: [],
    flood: { pushed: 0, blockedSince: undefined },
    chats: [],
  };
  const note = (path: string, md: grpc.Metadata) =>
    store.seen.push({
      path,
      authorization: md.get("authorization").map(String),
      extra: md.get("x-extra").map(String),
    });
  server.addService(ECHO, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      note(ECHO.unary.path, call.metadata);
      const trailer = new grpc.Metadata();
      trailer.set("served-by", name);
      cb(null, call.request, trailer);
    },
    fail: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      note(ECHO.fail.path, call.metadata);
      cb({ code: grpc.status.NOT_FOUND, details: `nothing here at ${name}` });
    },
    sum: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      note(ECHO.sum.path, call.metadata);
      let total = 0;
      call.on("data", (b: Buffer) => {
        total += b.length;
      });
      call.on("end", () => cb(null, Buffer.from(`${name}:${total}`)));
    },
    flood: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      note(ECHO.flood.path, call.metadata);
      const chunk = Buffer.alloc(64 * 1024, 7);
      const push = () => {
        while (!call.cancelled) {
          store.flood.pushed += chunk.length;
          if (!call.write(chunk)) {
            store.flood.blockedSince = Date.now();
            call.once("drain", () => {
              store.flood.blockedSince = undefined;
              push();
            });
            return;
          }
        }
      };
      push();
    },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      note(ECHO.chat.path, call.metadata);
      store.chats.push(call);
      call.on("data", (b: Buffer) => call.write(Buffer.concat([Buffer.from(`${name}:`), b])));
      call.on("end", () => call.end());
    },
  });
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(null, [
        { cert_chain: Buffer.from(tls.leaf.certPem), private_key: Buffer.from(tls.leaf.keyPem) },
      ])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  store.address = `127.0.0.1:${port}`;
  stops.push(() => server.forceShutdown());
  return store;
}

type EchoClient = grpc.Client & {
  unary(
    req: Buffer,
    md: grpc.Metadata,
    cb: (e: grpc.ServiceError | null, r: Buffer) => void,
  ): grpc.ClientUnaryCall;
  fail(
    req: Buffer,
    md: grpc.Metadata,
    cb: (e: grpc.ServiceError | null, r: Buffer) => void,
  ): grpc.ClientUnaryCall;
  sum(
    md: grpc.Metadata,
    cb: (e: grpc.ServiceError | null, r: Buffer) => void,
  ): grpc.ClientWritableStream<Buffer>;
  flood(req: Buffer): grpc.ClientReadableStream<Buffer>;
  chat(md?: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer>;
};

/** A client on the relay, as the agent is: plaintext, any authorization of its own. */
function client(relay: Relay): EchoClient {
  const Ctor = grpc.makeGenericClientConstructor(ECHO, "Echo");
  const c = new Ctor(relay.address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": MAX,
    "grpc.max_send_message_length": MAX,
  }) as unknown as EchoClient;
  stops.push(() => c.close());
  return c;
}

/** A unary call's answer and its trailing metadata (the status event comes after the callback). */
function unary(c: EchoClient, body: Buffer, md = new grpc.Metadata()) {
  return new Promise<{ body: Buffer; trailer: grpc.Metadata }>((resolve, reject) => {
    let answer: Buffer | undefined;
    const call = c.unary(body, md, (err, res) => {
      if (err) reject(err);
      else answer = res;
    });
    call.on("status", (s) => {
      if (answer) resolve({ body: answer, trailer: s.metadata });
    });
  });
}

async function relayOn(
  address = "127.0.0.1:0",
  calls: RelayCall[] = [],
  drainTimeoutMs = 30_000,
): Promise<Relay> {
  const relay = await Relay.listen(parseRelayAddress(address), {
    drainTimeoutMs,
    onCall: (c) => calls.push(c),
  });
  stops.push(() => relay.close());
  return relay;
}

const plain = (store: EchoStore, extra: Partial<RelayUpstream> = {}): RelayUpstream => ({
  address: store.address,
  insecure: true,
  ...extra,
});

describe("the relay", () => {
  it("forwards unary, client-streaming, server-streaming and bidi calls of a service it does not know; statuses, messages and trailers arrive unchanged", async () => {
    const store = await echoStore("a");
    const calls: RelayCall[] = [];
    const relay = await relayOn("127.0.0.1:0", calls);
    relay.setUpstream(plain(store));
    const c = client(relay);

    const echoed = await unary(c, Buffer.from("hello"));
    expect(echoed.body.toString()).toBe("hello");
    expect(echoed.trailer.get("served-by")).toEqual(["a"]);

    const failed = await new Promise<grpc.ServiceError>((resolve) =>
      c.fail(Buffer.from("x"), new grpc.Metadata(), (err) => resolve(err as grpc.ServiceError)),
    );
    expect(failed.code).toBe(grpc.status.NOT_FOUND);
    expect(failed.details).toBe("nothing here at a");

    const summed = await new Promise<string>((resolve, reject) => {
      const call = c.sum(new grpc.Metadata(), (err, res) =>
        err ? reject(err) : resolve(res.toString()),
      );
      for (let i = 0; i < 10; i++) call.write(Buffer.alloc(1000));
      call.end();
    });
    expect(summed).toBe("a:10000");

    const chat = c.chat();
    const replies: string[] = [];
    chat.on("data", (b: Buffer) => replies.push(b.toString()));
    const ended = new Promise((resolve) => chat.on("status", resolve));
    chat.write(Buffer.from("one"));
    chat.write(Buffer.from("two"));
    chat.end();
    expect(await ended).toMatchObject({ code: grpc.status.OK });
    expect(replies).toEqual(["a:one", "a:two"]);

    await waitFor("four calls recorded", () => calls.length >= 4);
    expect(calls.map((call) => [call.path, call.grpcStatus])).toEqual(
      expect.arrayContaining([
        ["/test.Echo/Unary", 0],
        ["/test.Echo/Fail", grpc.status.NOT_FOUND],
        ["/test.Echo/Sum", 0],
        ["/test.Echo/Chat", 0],
      ]),
    );
    const stats = relay.stats().get(store.address);
    expect(stats?.calls).toBe(4);
    expect(stats?.bytesUp).toBeGreaterThan(10_000);
  });

  it("sends the store one authorization header — its token, whatever the client sent — and the extra headers, over TLS with the given trust", async () => {
    const pki = makePki();
    const store = await echoStore("tls", pki);
    const relay = await relayOn();
    relay.setUpstream({
      address: `localhost:${store.address.split(":")[1]}`,
      insecure: false,
      token: "store-token",
      headers: { "X-Extra": "from-relation" },
      secureContext: createSecureContext({ ca: pki.ca.certPem, minVersion: "TLSv1.3" }),
      servername: "localhost",
    });
    const c = client(relay);
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer the-agents-own");
    await unary(c, Buffer.from("x"), md);
    expect(store.seen.at(-1)).toMatchObject({
      authorization: ["Bearer store-token"],
      extra: ["from-relation"],
    });

    // A store whose certificate the relay is not told to trust: the call fails UNAVAILABLE.
    relay.setUpstream({
      address: `localhost:${store.address.split(":")[1]}`,
      insecure: false,
      secureContext: createSecureContext({ ca: pki.untrusted.certPem }),
      servername: "localhost",
    });
    const refused = await unary(c, Buffer.from("x")).catch((err: grpc.ServiceError) => err);
    expect(refused).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((refused as grpc.ServiceError).details).toContain("relay");
  });

  it("refuses calls UNAVAILABLE, saying why, while it has no store; the same client's next call goes through once one is set", async () => {
    const store = await echoStore("late");
    const relay = await relayOn();
    const c = client(relay);
    const refused = await unary(c, Buffer.from("x")).catch((err: grpc.ServiceError) => err);
    expect(refused).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((refused as grpc.ServiceError).details).toContain("no store is configured yet");

    relay.setUpstream(plain(store));
    expect((await unary(c, Buffer.from("now"))).body.toString()).toBe("now");

    relay.setUpstream(undefined, "the relation was removed");
    const removed = await unary(c, Buffer.from("x")).catch((err: grpc.ServiceError) => err);
    expect((removed as grpc.ServiceError).details).toContain("the relation was removed");
  });

  it("a store change: the call in flight finishes on the old store, new calls go to the new one", async () => {
    const [a, b] = [await echoStore("a"), await echoStore("b")];
    const relay = await relayOn();
    relay.setUpstream(plain(a));
    const c = client(relay);

    const chat = c.chat();
    const replies: string[] = [];
    chat.on("data", (m: Buffer) => replies.push(m.toString()));
    const ended = new Promise((resolve) => chat.on("status", resolve));
    chat.write(Buffer.from("before"));
    await waitFor("the first reply", () => replies.length === 1);

    relay.setUpstream(plain(b));
    expect((await unary(c, Buffer.from("new"))).trailer.get("served-by")).toEqual(["b"]);
    chat.write(Buffer.from("after"));
    chat.end();
    expect(await ended).toMatchObject({ code: grpc.status.OK });
    expect(replies).toEqual(["a:before", "a:after"]);
    expect(relay.stats().get(a.address)?.calls).toBe(1);
    expect(relay.stats().get(b.address)?.calls).toBe(1);
  });

  it("a call still running on the old store after the drain timeout is cut", async () => {
    const [a, b] = [await echoStore("a"), await echoStore("b")];
    const relay = await relayOn("127.0.0.1:0", [], 300);
    relay.setUpstream(plain(a));
    const c = client(relay);
    const chat = c.chat();
    chat.on("data", () => undefined);
    const status = new Promise<grpc.StatusObject>((resolve) => chat.on("status", resolve));
    chat.on("error", () => undefined);
    chat.write(Buffer.from("x"));
    await waitFor("the call at a", () => a.chats.length === 1);
    relay.setUpstream(plain(b));
    expect((await status).code).not.toBe(grpc.status.OK);
  });

  it("close: an agent's call in flight finishes, then its connection is closed and close resolves", async () => {
    const store = await echoStore("a");
    const relay = await Relay.listen(parseRelayAddress("127.0.0.1:0"));
    relay.setUpstream(plain(store));
    const c = client(relay);
    const chat = c.chat();
    const replies: string[] = [];
    chat.on("data", (m: Buffer) => replies.push(m.toString()));
    const ended = new Promise((resolve) => chat.on("status", resolve));
    chat.write(Buffer.from("one"));
    await waitFor("the first reply", () => replies.length === 1);
    let closed = false;
    const closing = relay.close().then(() => {
      closed = true;
    });
    chat.write(Buffer.from("two"));
    await waitFor("the second reply", () => replies.length === 2);
    expect(closed).toBe(false);
    chat.end();
    expect(await ended).toMatchObject({ code: grpc.status.OK });
    await closing;
    expect(replies).toEqual(["a:one", "a:two"]);
  });

  it("passes 32 MiB messages both ways", async () => {
    const store = await echoStore("big");
    const relay = await relayOn();
    relay.setUpstream(plain(store));
    const big = Buffer.alloc(32 * 1024 * 1024, 1);
    const res = await unary(client(relay), big);
    expect(res.body.length).toBe(big.length);
    expect(res.body.equals(big)).toBe(true);
  });

  it("flow control end to end: a client that never reads holds the store back; the relay buffers a bounded amount", async () => {
    const store = await echoStore("flood");
    const relay = await relayOn();
    relay.setUpstream(plain(store));
    // A raw HTTP/2 client that opens the stream and never reads a byte.
    const session = http2.connect(`http://${relay.address}`);
    stops.push(() => session.destroy());
    const stream = session.request({
      ":method": "POST",
      ":path": "/test.Echo/Flood",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.pause();
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    await waitFor(
      "the store blocked for 500 ms",
      () => store.flood.blockedSince !== undefined && Date.now() - store.flood.blockedSince > 500,
    );
    // The store got ~1 MiB out before it was held: HTTP/2 windows and stream buffers, no more.
    expect(store.flood.pushed).toBeLessThan(4 * 1024 * 1024);
    const held = store.flood.pushed;
    stream.resume();
    await waitFor("the store writing again", () => store.flood.pushed > held + 4 * 1024 * 1024);
    stream.close();
  });

  it("a peer that does not speak HTTP/2, or sends huge headers, loses its own connection; the relay serves the next call", async () => {
    const store = await echoStore("ok");
    const relay = await relayOn();
    relay.setUpstream(plain(store));
    const [host, port] = [
      relay.address.split(":")[0] as string,
      Number(relay.address.split(":")[1]),
    ];
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      socket.on("data", () => undefined);
      socket.on("error", () => resolve(true));
      socket.on("close", () => resolve(true));
    });
    expect(closed).toBe(true);

    const session = http2.connect(`http://${relay.address}`);
    session.on("error", () => undefined);
    stops.push(() => session.destroy());
    const huge = session.request({
      ":method": "POST",
      ":path": "/test.Echo/Unary",
      "x-huge": "h".repeat(200 * 1024),
    });
    huge.on("error", () => undefined);
    const outcome = await new Promise<string>((resolve) => {
      huge.on("response", (h) => resolve(`response ${h[":status"]} ${h["grpc-status"]}`));
      huge.on("close", () => resolve(`closed ${huge.rstCode}`));
    });
    // Refused: the stream reset with an error code (nghttp2 refuses the header block), or an
    // answer with a gRPC error; never forwarded.
    expect(outcome).toMatch(/^(closed [1-9]\d*|response \d+ [1-9]\d*)$/);
    expect(store.seen.some((s) => s.path === "/test.Echo/Unary")).toBe(false);

    expect((await unary(client(relay), Buffer.from("still"))).body.toString()).toBe("still");
  });

  it("listens on a unix socket created 0600, replacing a stale one; never on a non-loopback address", async () => {
    const dir = await tempDir("pas-relay-");
    const path = join(dir, "relay.sock");
    const first = await Relay.listen(parseRelayAddress(`unix:${path}`));
    first.destroy();
    // The first relay was killed: its socket file is left; the next one replaces it.
    const store = await echoStore("unix");
    const relay = await relayOn(`unix:${path}`);
    expect(relay.address).toBe(`unix:${path}`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    relay.setUpstream(plain(store));
    expect((await unary(client(relay), Buffer.from("u"))).body.toString()).toBe("u");

    for (const bad of [
      "0.0.0.0:7075",
      "10.0.0.5:7075",
      "parca.example.com:7075",
      "unix:relative.sock",
      "7075",
    ]) {
      expect(() => parseRelayAddress(bad), bad).toThrow(RelayAddressError);
    }
    expect(parseRelayAddress("[::1]:7075")).toEqual({ host: "::1", port: 7075 });
    expect(parseRelayAddress("localhost:0")).toEqual({ host: "localhost", port: 0 });
  });
});
