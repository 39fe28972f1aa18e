import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CheckOptions, type CheckResult, checkStore } from "../../src/store/check.js";
import { targetFromArgv } from "../../src/store/target.js";
import { makePki } from "../support/certs.js";
import {
  blackholeEndpoint,
  type Endpoint,
  refusedPort,
  silentEndpoint,
  tlsEndpoint,
} from "../support/endpoints.js";
import { TestStore, type TestStoreOptions } from "../support/store.js";
import { tempDir } from "../support/tmp.js";

const pki = makePki();
let caFile = "";
/** No system roots: the tests decide what is trusted. */
let noRoots: NodeJS.ProcessEnv = {};

let pkiDir = "";
beforeAll(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), "pas-pki-"));
  const dir = pkiDir;
  caFile = join(dir, "ca.pem");
  await writeFile(caFile, pki.ca.certPem);
  await writeFile(join(dir, "empty.pem"), "");
  noRoots = { SSL_CERT_FILE: join(dir, "empty.pem"), SSL_CERT_DIR: join(dir, "no-such-dir") };
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});
afterAll(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  await rm(pkiDir, { recursive: true, force: true });
});

async function store(options: TestStoreOptions = {}): Promise<TestStore> {
  const s = await TestStore.start(options);
  closers.push(() => s.stop());
  return s;
}

async function endpoint(made: Promise<Endpoint>): Promise<Endpoint> {
  const e = await made;
  closers.push(() => e.close());
  return e;
}

function flags(address: string, insecure: boolean, ...extra: string[]): string[] {
  return [...extra, `--remote-store-address=${address}`, `--remote-store-insecure=${insecure}`];
}

async function check(argv: string[], options: Partial<CheckOptions> = {}) {
  const target = await targetFromArgv(argv, options.env ?? {});
  return checkStore(target, { timeoutMs: 5000, caFile, env: noRoots, ...options });
}

const stageNames = (r: { stages: readonly { name: string }[] }) => r.stages.map((s) => s.name);

describe("a store that accepts the agent", () => {
  it("plaintext: every stage passes, timed", async () => {
    const s = await store();
    const r = await check(flags(s.address, true));
    expect(r.diagnosis).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(stageNames(r)).toEqual(["dns", "tcp", "health", "arrow"]);
    expect(r.writeRpc?.rpc).toBe("WriteArrow");
    expect(r.stages.every((st) => st.ok && st.durationMs >= 0)).toBe(true);
    expect(r.warnings).toEqual([]);
    expect(r.address).toBe(s.address);
    expect(r.insecure).toBe(true);
  });

  it("TLS with a CA from --ca-file, by IP and by name", async () => {
    const s = await store({ tls: { leaf: pki.leaf } });
    const r = await check(flags(s.address, false));
    expect(r.diagnosis).toBeUndefined();
    expect(stageNames(r)).toEqual(["dns", "tcp", "tls", "health", "arrow"]);
    const byName = await check(flags(`localhost:${s.port}`, false));
    expect(byName.diagnosis).toBeUndefined();
  });

  it("trusts the system roots as Go does (SSL_CERT_FILE), without --ca-file", async () => {
    const s = await store({ tls: { leaf: pki.leaf } });
    const r = await check(flags(s.address, false), {
      caFile: undefined,
      env: { SSL_CERT_FILE: caFile, SSL_CERT_DIR: "/nonexistent" },
    });
    expect(r.diagnosis).toBeUndefined();
    const dir = await tempDir();
    await writeFile(join(dir, "store-ca.pem"), pki.ca.certPem);
    const viaDir = await check(flags(s.address, false), {
      caFile: undefined,
      env: { SSL_CERT_FILE: "/nonexistent", SSL_CERT_DIR: dir },
    });
    expect(viaDir.diagnosis).toBeUndefined();
  });

  it("plaintext + token: the token goes as authorization metadata over plaintext too", async () => {
    const s = await store({ token: "plain-tok" });
    const r = await check(flags(s.address, true, "--remote-store-bearer-token=plain-tok"));
    expect(r.diagnosis).toBeUndefined();
    expect(s.calls.find((c) => c.path === "WriteArrow")?.metadata.authorization).toEqual([
      "Bearer plain-tok",
    ]);
  });

  it("TLS + token, and extra gRPC headers from the agent's args", async () => {
    const s = await store({ tls: { leaf: pki.leaf }, token: "tls-tok" });
    const r = await check(
      flags(s.address, false, "--remote-store-grpc-headers=X-Scope-OrgID=tenant-1"),
      {},
    );
    expect(r.diagnosis?.code).toBe("UNAUTHENTICATED");
    const ok = await check(
      flags(
        s.address,
        false,
        "--remote-store-bearer-token",
        "tls-tok",
        "--remote-store-grpc-headers=X-Scope-OrgID=tenant-1",
      ),
    );
    expect(ok.diagnosis).toBeUndefined();
    const call = s.calls.at(-1);
    expect(call?.metadata.authorization).toEqual(["Bearer tls-tok"]);
    expect(call?.metadata["x-scope-orgid"]).toEqual(["tenant-1"]);
  });

  it("uses the operator's token file and PARCA_BEARER_TOKEN, as the agent would", async () => {
    const s = await store({ token: "file-tok" });
    const file = join(await tempDir(), "token");
    await writeFile(file, "file-tok\n");
    expect(
      (await check(flags(s.address, true, `--remote-store-bearer-token-file=${file}`))).diagnosis,
    ).toBeUndefined();
    const viaEnv = await targetFromArgv(flags(s.address, true), { PARCA_BEARER_TOKEN: "file-tok" });
    expect((await checkStore(viaEnv, { timeoutMs: 5000, env: noRoots })).diagnosis).toBeUndefined();
    const unset = await targetFromArgv(flags(s.address, true), { PARCA_BEARER_TOKEN: "file-tok" }, [
      "PARCA_BEARER_TOKEN",
    ]);
    expect((await checkStore(unset, { timeoutMs: 5000, env: noRoots })).diagnosis?.code).toBe(
      "UNAUTHENTICATED",
    );
  });

  it("honours --remote-store-insecure-skip-verify", async () => {
    const s = await store({ tls: { leaf: pki.untrusted } });
    expect((await check(flags(s.address, false))).diagnosis?.code).toBe("TLS_UNKNOWN_CA");
    const r = await check(flags(s.address, false, "--remote-store-insecure-skip-verify"));
    expect(r.diagnosis).toBeUndefined();
    expect(
      (await check(flags(s.address, false, "--remote-store-insecure-skip-verify=false"))).ok,
    ).toBe(false);
  });

  it("honours --remote-store-client-cert/-key for mTLS", async () => {
    const s = await store({ tls: { leaf: pki.leaf, clientCa: pki.ca } });
    const dir = await tempDir();
    await writeFile(join(dir, "client.pem"), pki.client.certPem);
    await writeFile(join(dir, "client.key"), pki.client.keyPem);
    const r = await check(
      flags(
        s.address,
        false,
        `--remote-store-client-cert=${join(dir, "client.pem")}`,
        `--remote-store-client-key=${join(dir, "client.key")}`,
      ),
    );
    expect(r.diagnosis).toBeUndefined();
    const without = await check(flags(s.address, false));
    expect(without.ok).toBe(false);
    // TLS 1.3 rejects a missing client certificate after the handshake, with an alert.
    expect(without.diagnosis?.code).toBe("TLS_HANDSHAKE");
    expect(without.diagnosis?.hint).toContain("--remote-store-client-cert");
  });

  it("warns, without failing, when the health service is missing", async () => {
    const s = await store({ health: "missing" });
    const r = await check(flags(s.address, true));
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.code)).toEqual(["HEALTH_UNIMPLEMENTED"]);
  });

  it("an agent before v0.48 is probed with the Write stream only: a store without WriteArrow passes", async () => {
    const s = await store({ writeArrow: false });
    const r = await check(flags(s.address, true), { agentVersion: "v0.41.0" });
    expect(r.diagnosis).toBeUndefined();
    expect(r.warnings).toEqual([]);
    expect(stageNames(r)).toEqual(["dns", "tcp", "health", "write"]);
    expect(r.writeRpc).toEqual({ rpc: "Write", why: expect.stringContaining("v0.41.0") });
    expect(s.calls.map((c) => c.path)).toEqual(["Health/Check", "Write"]);
  });

  it("a forwarder that answers the empty Write stream OK passes, with WRITE_STREAM_UNANSWERED", async () => {
    const s = await store({ writeStream: "forwarder" });
    const r = await check(flags(s.address, true), { agentVersion: "v0.41.0" });
    expect(r.diagnosis).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.code)).toEqual(["WRITE_STREAM_UNANSWERED"]);
    expect(r.warnings[0]?.message).toContain("scraper-only Parca");
  });

  it("a scraper-only Parca and an agent that writes WriteArrow: STORE_TOO_OLD quoting the store, both ways out", async () => {
    const s = await store({ writeStream: "forwarder", writeArrow: "forwarder" });
    const r = await check(flags(s.address, true), { agentVersion: "0.49.0" });
    expect(r.diagnosis?.code).toBe("STORE_TOO_OLD");
    expect(r.diagnosis?.message).toContain('UNIMPLEMENTED "method WriteArrow not implemented"');
    expect(r.diagnosis?.message).toContain("scraper-only Parca");
    expect(r.diagnosis?.hint).toContain("a store that takes WriteArrow");
    expect(r.diagnosis?.hint).toContain("--remote-store-use-v2-schema=false");
    expect(r.diagnosis?.hint).not.toMatch(/--use-v2-schema/);
    // With the flag in the base args, the agent writes over Write: passes, with the warning.
    const write = await check(flags(s.address, true, "--remote-store-use-v2-schema=false"), {
      agentVersion: "0.49.0",
    });
    expect(write.ok).toBe(true);
    expect(write.writeRpc).toEqual({ rpc: "Write", why: expect.stringContaining("=false") });
    expect(write.warnings.map((w) => w.code)).toEqual(["WRITE_STREAM_UNANSWERED"]);
  });

  it("--remote-store-use-v2-schema in the agent's args picks the RPC: false → Write, even for an unknown version", async () => {
    const s = await store({ writeArrow: false });
    const r = await check(flags(s.address, true, "--remote-store-use-v2-schema=false"));
    expect(r.diagnosis).toBeUndefined();
    expect(stageNames(r).at(-1)).toBe("write");
    expect(r.writeRpc?.why).toContain("--remote-store-use-v2-schema=false");
    const arrow = await check(flags(s.address, true, "--remote-store-use-v2-schema"), {
      agentVersion: "v0.47.1",
    });
    expect(arrow.diagnosis?.code).toBe("STORE_TOO_OLD");
  });

  it("--use-v2-schema, as the agent's help text spells it, is refused before any call: no release knows it", async () => {
    const s = await store();
    for (const bad of ["--use-v2-schema=false", "--use-v2-schema"]) {
      await expect(targetFromArgv(flags(s.address, true, bad), {})).rejects.toThrow(
        /the agent refuses --use-v2-schema \("unknown flag", exit 80\)/,
      );
    }
    await expect(
      targetFromArgv(flags(s.address, true, "--use-v2-schema=false"), {}),
    ).rejects.toMatchObject({
      hint: expect.stringContaining("--remote-store-use-v2-schema=false"),
    });
    expect(s.calls).toEqual([]);
  });
});

describe("every diagnosis that can be made on one machine", () => {
  async function diagnosis(argv: string[], options: Partial<CheckOptions> = {}) {
    const r = await check(argv, options);
    expect(r.ok).toBe(false);
    expect(r.diagnosis?.message).toBeTruthy();
    expect(r.diagnosis?.hint).toBeTruthy();
    expect(r.stages.at(-1)?.ok).toBe(false);
    return r;
  }

  it("DNS_FAILURE", async () => {
    const r = await diagnosis(flags("parca-store.invalid:7070", true));
    expect(r.diagnosis?.code).toBe("DNS_FAILURE");
    expect(stageNames(r)).toEqual(["dns"]);
    expect(r.diagnosis?.hint).toContain("remote-store-address");
  });

  it("CONNECTION_REFUSED", async () => {
    const r = await diagnosis(flags(`127.0.0.1:${await refusedPort()}`, true));
    expect(r.diagnosis?.code).toBe("CONNECTION_REFUSED");
    expect(stageNames(r)).toEqual(["dns", "tcp"]);
  });

  it("CONNECT_TIMEOUT: SYNs dropped, within the budget", async () => {
    const e = await endpoint(blackholeEndpoint());
    const r = await diagnosis(flags(`127.0.0.1:${e.port}`, true), { timeoutMs: 400 });
    expect(r.diagnosis?.code).toBe("CONNECT_TIMEOUT");
    expect(r.durationMs).toBeLessThan(400 + 1000);
  });

  it("DEADLINE_EXCEEDED: a peer that accepts TCP and says nothing, plaintext and TLS", async () => {
    const e = await endpoint(silentEndpoint());
    const plain = await diagnosis(flags(`127.0.0.1:${e.port}`, true), { timeoutMs: 400 });
    expect(plain.diagnosis?.code).toBe("DEADLINE_EXCEEDED");
    expect(stageNames(plain)).toEqual(["dns", "tcp", "health"]);
    const tls = await diagnosis(flags(`127.0.0.1:${e.port}`, false), { timeoutMs: 400 });
    expect(tls.diagnosis?.code).toBe("DEADLINE_EXCEEDED");
    expect(stageNames(tls)).toEqual(["dns", "tcp", "tls"]);
    // Each ends when its budget does: 400 ms, plus 1 s of slack for a loaded machine's timers.
    for (const r of [plain, tls]) {
      expect(r.durationMs).toBeGreaterThanOrEqual(400 - 10); // timers: a few ms either way
      expect(r.durationMs).toBeLessThanOrEqual(400 + 1000);
    }
  });

  it("an aborted check ends at once and closes its connection, whatever its budget", async () => {
    const closed = new Promise<void>((resolve) => {
      const server = createNetServer((socket) => {
        socket.on("close", () => {
          server.close();
          resolve();
        });
        abort.abort();
      });
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        result = check(flags(`127.0.0.1:${port}`, true), {
          timeoutMs: 600_000,
          signal: abort.signal,
        });
      });
    });
    const abort = new AbortController();
    let result: Promise<CheckResult> | undefined;
    await closed;
    const r = await (result as Promise<CheckResult>);
    expect(r.ok).toBe(false);
    expect(r.stages.at(-1)?.ok).toBe(false);
  });

  it("TLS_SERVER_IS_PLAINTEXT", async () => {
    const s = await store();
    const r = await diagnosis(flags(s.address, false));
    expect(r.diagnosis?.code).toBe("TLS_SERVER_IS_PLAINTEXT");
    expect(r.diagnosis?.hint).toContain('remote-store-insecure to "true"');
  });

  it("TLS_REQUIRED_BY_SERVER", async () => {
    const s = await store({ tls: { leaf: pki.leaf } });
    const r = await diagnosis(flags(s.address, true));
    expect(r.diagnosis?.code).toBe("TLS_REQUIRED_BY_SERVER");
    expect(r.diagnosis?.hint).toContain('remote-store-insecure to "false"');
  });

  it("TLS_VERSION: an endpoint limited to TLS 1.2", async () => {
    const e = await endpoint(
      tlsEndpoint(pki.leaf, { maxVersion: "TLSv1.2", ALPNProtocols: ["h2"] }),
    );
    const r = await diagnosis(flags(`127.0.0.1:${e.port}`, false));
    expect(r.diagnosis?.code).toBe("TLS_VERSION");
  });

  it("TLS_NO_H2: without ALPN, or with only http/1.1", async () => {
    const none = await endpoint(tlsEndpoint(pki.leaf));
    expect((await diagnosis(flags(`127.0.0.1:${none.port}`, false))).diagnosis?.code).toBe(
      "TLS_NO_H2",
    );
    const h1 = await endpoint(tlsEndpoint(pki.leaf, { ALPNProtocols: ["http/1.1"] }));
    expect((await diagnosis(flags(`127.0.0.1:${h1.port}`, false))).diagnosis?.code).toBe(
      "TLS_NO_H2",
    );
  });

  it("TLS_UNKNOWN_CA: untrusted CA, self-signed, no --ca-file", async () => {
    for (const leaf of [pki.untrusted, pki.selfSigned]) {
      const s = await store({ tls: { leaf } });
      const r = await diagnosis(flags(s.address, false));
      expect(r.diagnosis?.code).toBe("TLS_UNKNOWN_CA");
      expect(r.diagnosis?.hint).toContain("--ca-file");
    }
    const s = await store({ tls: { leaf: pki.leaf } });
    expect((await diagnosis(flags(s.address, false), { caFile: undefined })).diagnosis?.code).toBe(
      "TLS_UNKNOWN_CA",
    );
  });

  it("TLS_HOSTNAME_MISMATCH", async () => {
    const s = await store({ tls: { leaf: pki.wrongHost } });
    const r = await diagnosis(flags(`localhost:${s.port}`, false));
    expect(r.diagnosis?.code).toBe("TLS_HOSTNAME_MISMATCH");
    expect((await diagnosis(flags(s.address, false))).diagnosis?.code).toBe(
      "TLS_HOSTNAME_MISMATCH",
    );
  });

  it("TLS_CERT_EXPIRED", async () => {
    const s = await store({ tls: { leaf: pki.expired } });
    expect((await diagnosis(flags(s.address, false))).diagnosis?.code).toBe("TLS_CERT_EXPIRED");
  });

  it("TLS_HANDSHAKE: an unreadable client certificate", async () => {
    const s = await store({ tls: { leaf: pki.leaf } });
    const r = await diagnosis(
      flags(s.address, false, "--remote-store-client-cert=/nonexistent/cert.pem"),
    );
    expect(r.diagnosis?.code).toBe("TLS_HANDSHAKE");
  });

  it("NOT_SERVING", async () => {
    const s = await store({ health: "NOT_SERVING" });
    const r = await diagnosis(flags(s.address, true));
    expect(r.diagnosis?.code).toBe("NOT_SERVING");
    expect(stageNames(r)).toEqual(["dns", "tcp", "health"]);
  });

  it("UNAUTHENTICATED and PERMISSION_DENIED name the token to fix", async () => {
    const s = await store({ token: "right" });
    const r = await diagnosis(
      flags(s.address, true, "--remote-store-bearer-token=wrong-token-value"),
    );
    expect(r.diagnosis?.code).toBe("UNAUTHENTICATED");
    expect(r.diagnosis?.hint).toContain("remote-store-bearer-token");
    expect(JSON.stringify(r)).not.toContain("wrong-token-value");
    const p = await store({ token: "right", tokenDenied: "PERMISSION_DENIED" });
    expect(
      (await diagnosis(flags(p.address, true, "--remote-store-bearer-token=x"))).diagnosis?.code,
    ).toBe("PERMISSION_DENIED");
  });

  it("NOT_A_PARCA_STORE", async () => {
    const s = await store({ profileStore: false });
    const r = await diagnosis(flags(s.address, true));
    expect(r.diagnosis?.code).toBe("NOT_A_PARCA_STORE");
    expect(stageNames(r)).toEqual(["dns", "tcp", "health", "arrow"]);
  });

  it("NOT_A_PARCA_STORE for an old agent when only WriteArrow answers: its Write stream is what counts", async () => {
    const s = await store({ writeStream: false });
    expect((await check(flags(s.address, true))).diagnosis).toBeUndefined();
    const r = await diagnosis(flags(s.address, true), { agentVersion: "v0.41.0" });
    expect(r.diagnosis?.code).toBe("NOT_A_PARCA_STORE");
    expect(stageNames(r)).toEqual(["dns", "tcp", "health", "write"]);
  });

  it("STORE_TOO_OLD for a recent or unknown agent", async () => {
    const s = await store({ writeArrow: false });
    expect((await diagnosis(flags(s.address, true))).diagnosis?.code).toBe("STORE_TOO_OLD");
    expect(
      (await diagnosis(flags(s.address, true), { agentVersion: "0.48.0" })).diagnosis?.code,
    ).toBe("STORE_TOO_OLD");
  });

  it("UNKNOWN: a status no stage expects, with the status named", async () => {
    const s = await store({ writeRawStatus: 13 });
    const r = await diagnosis(flags(s.address, true), { agentVersion: "v0.41.0" });
    expect(r.diagnosis?.code).toBe("UNKNOWN");
    expect(r.diagnosis?.message).toContain("INTERNAL");
  });
});

describe("the token never appears", () => {
  it("not in a result, even when the server echoes it", async () => {
    const secret = 'tok"en\\with-quotes';
    const s = await store({ token: "other" });
    const r = await check(flags(s.address, true, `--remote-store-bearer-token=${secret}`));
    const json = JSON.stringify(r);
    expect(json).not.toContain(secret);
    expect(json).not.toContain(JSON.stringify(secret).slice(1, -1));
  });
});
