import { spawn } from "node:child_process";
import { connect, createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import type { Issued } from "./certs.js";

/** A listening test endpoint and how to close it. */
export interface Endpoint {
  readonly port: number;
  close(): Promise<void>;
}

function listen(server: Server, sockets: Set<Socket>): Promise<Endpoint> {
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({
        port,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A raw TLS endpoint (Node's tls), e.g. limited to TLS 1.2 or without ALPN h2. */
export function tlsEndpoint(leaf: Issued, options: TlsOptions = {}): Promise<Endpoint> {
  const server = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem, ...options });
  server.on("tlsClientError", () => undefined);
  return listen(server, new Set());
}

/** Accepts TCP connections and never says a word. */
export function silentEndpoint(): Promise<Endpoint> {
  return listen(createNetServer(), new Set());
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A port on which nothing listens. Drawn below Linux's ephemeral range (32768+), so a server
 * another test binds on port 0 cannot take it meanwhile.
 */
export async function refusedPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portIsFree(port)) return port;
  }
}

/**
 * A port whose SYNs are dropped, as a firewall would: a stopped process listening with a
 * backlog of 1, its accept queue filled (Node reads a backlog of 0 as "default").
 */
export async function blackholeEndpoint(): Promise<Endpoint> {
  const child = spawn(
    process.execPath,
    [
      "-e",
      "const s=require('net').createServer();s.listen({host:'127.0.0.1',port:0,backlog:1},()=>{process.stdout.write(String(s.address().port)+'\\n');process.kill(process.pid,'SIGSTOP')})",
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("error", reject);
  });
  // Two connections fill a queue of one; later SYNs are dropped.
  const fillers = [0, 1].map(() =>
    connect({ host: "127.0.0.1", port }).on("error", () => undefined),
  );
  await Promise.all(fillers.map((f) => new Promise((resolve) => f.once("connect", resolve))));
  return {
    port,
    close: async () => {
      for (const f of fillers) f.destroy();
      child.kill("SIGKILL");
      await new Promise((resolve) =>
        child.exitCode !== null || child.signalCode !== null
          ? resolve(null)
          : child.once("exit", resolve),
      );
    },
  };
}
