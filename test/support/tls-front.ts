// A TLS front for the test store: any TLS set-up Node can serve (certificate chain, key type,
// groups, cipher suites, client certificates), terminating TLS and passing the HTTP/2 bytes on
// to a plaintext store. The differential test puts each corpus case in front of one store.
import { connect as netConnect, type Socket } from "node:net";
import { createServer, type Server, type TlsOptions } from "node:tls";

export interface TlsFront {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves TLS on 127.0.0.1 (port 0) with `options`, forwarding to `upstreamPort`. */
export function tlsFront(options: TlsOptions, upstreamPort: number): Promise<TlsFront> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ ALPNProtocols: ["h2"], ...options }, (client) => {
    const upstream = netConnect({ host: "127.0.0.1", port: upstreamPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  // Handshake failures are what the corpus is about; they are not the front's errors.
  server.on("tlsClientError", () => undefined);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : 0,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
