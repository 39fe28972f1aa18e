// The check behind real ingresses (Debian's nginx 1.22 and Caddy 2.6, installed by the pretest
// step): what each answers gets its own diagnosis, and a working ingress passes — for the
// check and for the Go judge alike.

import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkStore } from "../../src/store/check.js";
import { targetFromArgv } from "../../src/store/target.js";
import { makePki } from "../support/certs.js";
import { freePort, type Ingress, startCaddy, startNginx } from "../support/ingress.js";
import { judge } from "../support/judge.js";
import { TestStore } from "../support/store.js";
import { tempDir } from "../support/tmp.js";

const pki = makePki();
let store: TestStore;
const running: Ingress[] = [];

beforeAll(async () => {
  store = await TestStore.start();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((i) => i.stop()));
});
afterAll(async () => {
  await store.stop();
});

async function check(address: string, dir: string, insecure = false) {
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, pki.ca.certPem);
  await writeFile(join(dir, "empty.pem"), "");
  const env = { SSL_CERT_FILE: join(dir, "empty.pem"), SSL_CERT_DIR: join(dir, "none") };
  const argv = [`--remote-store-address=${address}`, `--remote-store-insecure=${insecure}`];
  const result = await checkStore(await targetFromArgv(argv, {}), { timeoutMs: 5000, caFile, env });
  return { result, caFile, env };
}

async function nginx(
  root: string,
  extra: { sslProtocols?: string | null; locations?: string } = {},
) {
  const dir = await tempDir("pas-nginx-");
  const sslProtocols =
    extra.sslProtocols === null ? undefined : (extra.sslProtocols ?? "TLSv1.2 TLSv1.3");
  const ingress = await startNginx({
    dir,
    leaf: pki.leaf,
    root,
    ...(sslProtocols ? { sslProtocols } : {}),
    ...(extra.locations ? { locations: extra.locations } : {}),
  });
  running.push(ingress);
  return { ...(await check(ingress.address, dir)), ingress };
}

const grpcPass = () => `grpc_pass grpc://${store.address};`;

describe("behind nginx 1.22", () => {
  it("passes through grpc_pass to the store, and the Go judge connects too", async () => {
    const { result, ingress, caFile, env } = await nginx(grpcPass());
    expect(result.diagnosis).toBeUndefined();
    expect(result.ok).toBe(true);
    const verdict = await judge({ address: ingress.address, caFile, env });
    expect(verdict).toMatchObject({ connect: true, grpcStatus: 0 });
  });

  it("its TLS port addressed with insecure: true is TLS_REQUIRED_BY_SERVER, not an HTTP/1.1 server", async () => {
    const { ingress } = await nginx(grpcPass());
    const dir = await tempDir("pas-nginx-");
    const { result } = await check(ingress.address, dir, true);
    expect(result.diagnosis?.code).toBe("TLS_REQUIRED_BY_SERVER");
    expect(result.diagnosis?.hint).toContain("remote-store-insecure");
  });

  it("the store behind it down: HTTP 502 is PROXY_UPSTREAM_UNAVAILABLE", async () => {
    const closed = await freePort();
    const { result } = await nginx(`grpc_pass grpc://127.0.0.1:${closed};`);
    expect(result.diagnosis?.code).toBe("PROXY_UPSTREAM_UNAVAILABLE");
    expect(result.diagnosis?.message).toContain("HTTP 502");
    expect(result.diagnosis?.hint).toContain("upstream");
  });

  it("HTTP 503 is PROXY_UPSTREAM_UNAVAILABLE", async () => {
    const { result } = await nginx("return 503;");
    expect(result.diagnosis?.code).toBe("PROXY_UPSTREAM_UNAVAILABLE");
  });

  it("HTTP 429 is RATE_LIMITED", async () => {
    const { result } = await nginx("return 429;");
    expect(result.diagnosis?.code).toBe("RATE_LIMITED");
  });

  it("no route for the store's paths: HTTP 404 without a gRPC status is PROXY_NO_ROUTE", async () => {
    const { result } = await nginx("return 404;", {
      locations: `    location /grpc.health.v1.Health/ { ${grpcPass()} }`,
    });
    expect(result.stages.map((s) => s.name)).toEqual(["dns", "tcp", "tls", "health", "arrow"]);
    expect(result.diagnosis?.code).toBe("PROXY_NO_ROUTE");
    expect(result.diagnosis?.hint).toContain("ProfileStoreService");
  });

  it("an HTML page where gRPC belongs is NOT_GRPC", async () => {
    const { result } = await nginx(
      'default_type text/html; return 200 "<html><body>welcome</body></html>";',
    );
    expect(result.diagnosis?.code).toBe("NOT_GRPC");
    expect(result.diagnosis?.message).toContain("text/html");
  });

  it("HTTP 401 and 403 are UNAUTHENTICATED and PERMISSION_DENIED", async () => {
    expect((await nginx("return 401;")).result.diagnosis?.code).toBe("UNAUTHENTICATED");
    expect((await nginx("return 403;")).result.diagnosis?.code).toBe("PERMISSION_DENIED");
  });

  it("no ssl_protocols: 1.22's default has no TLS 1.3, TLS_VERSION — and the Go judge refuses too", async () => {
    const { result, ingress, caFile, env } = await nginx(grpcPass(), { sslProtocols: null });
    expect(result.diagnosis?.code).toBe("TLS_VERSION");
    const verdict = await judge({ address: ingress.address, caFile, env });
    expect(verdict.connect).toBe(false);
    expect(verdict.error).toContain("protocol version");
  });
});

describe("behind Caddy 2.6", () => {
  async function caddy(upstream: string) {
    const dir = await tempDir("pas-caddy-");
    const ingress = await startCaddy({ dir, leaf: pki.leaf, upstream });
    running.push(ingress);
    return { ...(await check(ingress.address, dir)), ingress };
  }

  it("passes through reverse_proxy over h2c, and the Go judge connects too", async () => {
    const { result, ingress, caFile, env } = await caddy(store.address);
    expect(result.diagnosis).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(await judge({ address: ingress.address, caFile, env })).toMatchObject({ connect: true });
  });

  it("the store behind it down: HTTP 502 is PROXY_UPSTREAM_UNAVAILABLE", async () => {
    const { result } = await caddy(`127.0.0.1:${await freePort()}`);
    expect(result.diagnosis?.code).toBe("PROXY_UPSTREAM_UNAVAILABLE");
  });
});

describe("a plaintext HTTP/1.1 server", () => {
  it("is NOT_GRPC", async () => {
    const server = createServer((_req, res) => res.end("hello"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const dir = await tempDir();
      const { result } = await check(`127.0.0.1:${port}`, dir, true);
      expect(result.diagnosis?.code).toBe("NOT_GRPC");
      expect(result.diagnosis?.message).toContain("HTTP/1.1");
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
