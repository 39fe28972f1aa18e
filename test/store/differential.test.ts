// The check against the agent's own TLS stack: for each TLS set-up of the corpus, the verdict
// of `checkStore` (Node, OpenSSL) must equal the Go judge's (crypto/tls, crypto/x509, as
// grpc-go dials for the agent), and where both refuse, the check names the cause.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TlsOptions } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkStore } from "../../src/store/check.js";
import { targetFromArgv } from "../../src/store/target.js";
import { type Issued, type IssueOptions, issue } from "../support/certs.js";
import { judge, judgeBinary } from "../support/judge.js";
import { TestStore } from "../support/store.js";
import { tlsFront } from "../support/tls-front.js";

const DAY = 86_400_000;
const names = ["localhost", "127.0.0.1"];

interface Case {
  readonly name: string;
  /** The server's certificate chain, leaf first, and what the front is told beyond it. */
  readonly chain: () => { certs: Issued[]; trusted: Issued; extra?: TlsOptions };
  /** The host the agent dials: localhost or 127.0.0.1. */
  readonly host?: string;
  readonly skipVerify?: boolean;
  /** Client certificate sent (issued by the trusted CA). */
  readonly clientCert?: boolean;
  /** What the agent's Go stack does and the check says: "connects", or the check's diagnosis. */
  readonly verdict: "connects" | string;
}

let root: Issued;
const leafOf = (options: Partial<IssueOptions> = {}, issuer?: Issued) =>
  issue({ cn: "localhost", names, issuer: issuer ?? root, ...options });
const plain = (leaf: Issued, extra?: TlsOptions) => ({
  certs: [leaf],
  trusted: root,
  ...(extra ? { extra } : {}),
});

// Not in the corpus: an RSA key under 1024 bits and a SHA-1 signature. Node's TLS server
// cannot serve them (OpenSSL's security level refuses to load them), so no front can be made;
// the check refuses both (OpenSSL: EE_KEY_TOO_SMALL, CA_MD_TOO_WEAK → TLS_CERT_UNSUPPORTED), as
// Go ≥ 1.24 and ≥ 1.18 do, and goChainRefusal names a SHA-1 signature on its own.
const corpus: Case[] = [
  // Names
  { name: "SAN names the host", chain: () => plain(leafOf()), verdict: "connects" },
  {
    name: "host only in the Common Name",
    chain: () => plain(leafOf({ names: [] })),
    verdict: "TLS_CERT_COMMON_NAME_ONLY",
  },
  {
    name: "SAN for another name, CN names the host",
    chain: () => plain(leafOf({ names: ["parca.example.com"] })),
    verdict: "TLS_HOSTNAME_MISMATCH",
  },
  {
    name: "SAN in upper case",
    chain: () => plain(leafOf({ dnsNames: ["LOCALHOST"] })),
    verdict: "connects",
  },
  {
    name: "wildcard SAN does not cover a one-label host",
    chain: () => plain(leafOf({ dnsNames: ["*.localhost"] })),
    verdict: "TLS_HOSTNAME_MISMATCH",
  },
  {
    name: "partial wildcard SAN",
    chain: () => plain(leafOf({ dnsNames: ["local*"] })),
    verdict: "TLS_HOSTNAME_MISMATCH",
  },
  { name: "IP host, IP SAN", host: "127.0.0.1", chain: () => plain(leafOf()), verdict: "connects" },
  {
    name: "IP host, IP written as a DNS SAN",
    host: "127.0.0.1",
    chain: () => plain(leafOf({ dnsNames: ["127.0.0.1"] })),
    verdict: "TLS_HOSTNAME_MISMATCH",
  },
  {
    name: "IP host, IP only in the Common Name",
    host: "127.0.0.1",
    chain: () => plain(leafOf({ cn: "127.0.0.1", names: [] })),
    verdict: "TLS_CERT_COMMON_NAME_ONLY",
  },
  // Keys and curves
  {
    name: "ECDSA P-384 key",
    chain: () => plain(leafOf({ keyType: "ec-p384" })),
    verdict: "connects",
  },
  {
    name: "ECDSA P-521 key",
    chain: () => plain(leafOf({ keyType: "ec-p521" })),
    verdict: "connects",
  },
  {
    name: "RSA 2048 key",
    chain: () => plain(leafOf({ keyType: "rsa-2048" })),
    verdict: "connects",
  },
  {
    name: "RSA 1024 key",
    chain: () => plain(leafOf({ keyType: "rsa-1024" })),
    verdict: "connects",
  },

  {
    name: "RSA-PSS key",
    chain: () => plain(leafOf({ keyType: "rsa-pss" })),
    verdict: "TLS_CERT_UNSUPPORTED",
  },
  {
    name: "brainpool P-256 key",
    chain: () => plain(leafOf({ keyType: "ec-brainpool" })),
    verdict: "TLS_CERT_UNSUPPORTED",
  },
  // Signatures

  {
    name: "leaf signed by an RSA CA",
    chain: () => {
      const ca = issue({ cn: "rsa ca", ca: true, keyType: "rsa-2048" });
      return { certs: [leafOf({}, ca)], trusted: ca };
    },
    verdict: "connects",
  },
  {
    name: "leaf signed by an Ed25519 CA",
    chain: () => {
      const ca = issue({ cn: "ed25519 ca", ca: true, keyType: "ed25519" });
      return { certs: [leafOf({}, ca)], trusted: ca };
    },
    verdict: "connects",
  },
  {
    name: "negative serial number",
    chain: () => plain(leafOf({ negativeSerial: true })),
    verdict: "TLS_CERT_UNSUPPORTED",
  },
  // Usages and extensions
  {
    name: "extended key usage clientAuth only",
    chain: () => plain(leafOf({ extKeyUsage: ["clientAuth"] })),
    verdict: "TLS_CERT_WRONG_USAGE",
  },
  {
    name: "no extended key usage",
    chain: () => plain(leafOf({ extKeyUsage: [] })),
    verdict: "connects",
  },
  {
    name: "unknown critical extension",
    chain: () => plain(leafOf({ unknownCritical: true })),
    verdict: "TLS_HANDSHAKE",
  },
  // Chains
  {
    name: "intermediate sent",
    chain: () => {
      const mid = issue({ cn: "intermediate", ca: true, issuer: root });
      return { certs: [leafOf({}, mid), mid], trusted: root };
    },
    verdict: "connects",
  },
  {
    name: "intermediate not sent",
    chain: () => {
      const mid = issue({ cn: "intermediate", ca: true, issuer: root });
      return { certs: [leafOf({}, mid)], trusted: root };
    },
    verdict: "TLS_UNKNOWN_CA",
  },
  {
    name: "path length exceeded",
    chain: () => {
      const top = issue({ cn: "pathlen 0 root", ca: true, pathLen: 0 });
      const mid = issue({ cn: "intermediate", ca: true, issuer: top });
      return { certs: [leafOf({}, mid), mid], trusted: top };
    },
    verdict: "TLS_HANDSHAKE",
  },
  {
    name: "name constraints permit the host",
    chain: () => {
      const top = issue({ cn: "constrained root", ca: true, permittedDns: ["localhost"] });
      return { certs: [leafOf({ names: ["localhost"] }, top)], trusted: top };
    },
    verdict: "connects",
  },
  {
    name: "name constraints exclude the host",
    chain: () => {
      const top = issue({ cn: "constrained root", ca: true, permittedDns: ["example.com"] });
      return { certs: [leafOf({ names: ["localhost"] }, top)], trusted: top };
    },
    verdict: "TLS_HANDSHAKE",
  },
  {
    name: "intermediate limited to clientAuth",
    chain: () => {
      const mid = issue({
        cn: "client-only intermediate",
        ca: true,
        issuer: root,
        extKeyUsage: ["clientAuth"],
      });
      return { certs: [leafOf({}, mid), mid], trusted: root };
    },
    verdict: "TLS_CERT_WRONG_USAGE",
  },
  // Validity
  {
    name: "expired",
    chain: () =>
      plain(
        leafOf({
          notBefore: new Date(Date.now() - 20 * DAY),
          notAfter: new Date(Date.now() - DAY),
        }),
      ),
    verdict: "TLS_CERT_EXPIRED",
  },
  {
    name: "not yet valid",
    chain: () =>
      plain(
        leafOf({
          notBefore: new Date(Date.now() + DAY),
          notAfter: new Date(Date.now() + 20 * DAY),
        }),
      ),
    verdict: "TLS_CERT_EXPIRED",
  },
  {
    name: "self-signed, not trusted",
    chain: () => ({ certs: [issue({ cn: "localhost", names })], trusted: root }),
    verdict: "TLS_UNKNOWN_CA",
  },
  // Key exchange, suites, versions
  {
    name: "only X25519",
    chain: () => plain(leafOf(), { ecdhCurve: "X25519" }),
    verdict: "connects",
  },
  { name: "only P-384", chain: () => plain(leafOf(), { ecdhCurve: "P-384" }), verdict: "connects" },
  {
    name: "only X448",
    chain: () => plain(leafOf(), { ecdhCurve: "X448" }),
    verdict: "TLS_NO_SHARED_PARAMETERS",
  },
  {
    name: "only FFDHE groups",
    chain: () => plain(leafOf(), { ecdhCurve: "ffdhe2048" }),
    verdict: "TLS_NO_SHARED_PARAMETERS",
  },
  {
    name: "only TLS_AES_128_CCM_SHA256",
    chain: () => plain(leafOf(), { ciphers: "TLS_AES_128_CCM_SHA256" }),
    verdict: "TLS_NO_SHARED_PARAMETERS",
  },
  {
    name: "only TLS_CHACHA20_POLY1305_SHA256",
    chain: () => plain(leafOf(), { ciphers: "TLS_CHACHA20_POLY1305_SHA256" }),
    verdict: "connects",
  },
  {
    name: "TLS 1.2 only",
    chain: () => plain(leafOf(), { maxVersion: "TLSv1.2" }),
    verdict: "TLS_VERSION",
  },
  // Client certificates and skip-verify
  {
    name: "client certificate required and sent",
    chain: () => plain(leafOf(), { requestCert: true, rejectUnauthorized: true, ca: root.certPem }),
    clientCert: true,
    verdict: "connects",
  },
  {
    name: "client certificate required, none sent",
    chain: () => plain(leafOf(), { requestCert: true, rejectUnauthorized: true, ca: root.certPem }),
    verdict: "TLS_HANDSHAKE",
  },
  {
    name: "skip-verify, untrusted self-signed",
    chain: () => ({ certs: [issue({ cn: "localhost", names })], trusted: root }),
    skipVerify: true,
    verdict: "connects",
  },
  {
    name: "skip-verify, Ed448 key",
    chain: () => plain(leafOf({ keyType: "ed448" })),
    skipVerify: true,
    verdict: "TLS_CERT_UNSUPPORTED",
  },
  {
    name: "skip-verify, negative serial",
    chain: () => plain(leafOf({ negativeSerial: true })),
    skipVerify: true,
    verdict: "TLS_CERT_UNSUPPORTED",
  },
];

let dir = "";
let store: TestStore;
let noRoots: NodeJS.ProcessEnv = {};
const rows: string[] = [];

beforeAll(async () => {
  judgeBinary();
  dir = await mkdtemp(join(tmpdir(), "pas-differential-"));
  root = issue({ cn: "differential root", ca: true });
  store = await TestStore.start();
  await writeFile(join(dir, "empty.pem"), "");
  noRoots = { SSL_CERT_FILE: join(dir, "empty.pem"), SSL_CERT_DIR: join(dir, "no-such-dir") };
}, 120_000);

afterAll(async () => {
  await store?.stop();
  await rm(dir, { recursive: true, force: true });
  if (rows.length > 0) console.log(`differential corpus:\n${rows.join("\n")}`);
});

describe("the check agrees with Go's TLS stack", () => {
  it("has at least 30 cases", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(30);
  });

  for (const [index, c] of corpus.entries()) {
    it(c.name, async () => {
      const made = c.chain();
      const caseDir = join(dir, String(index));
      await import("node:fs/promises").then((fs) => fs.mkdir(caseDir));
      const caFile = join(caseDir, "ca.pem");
      await writeFile(caFile, made.trusted.certPem);
      const leaf = made.certs[0] as Issued;
      const front = await tlsFront(
        { cert: made.certs.map((x) => x.certPem).join(""), key: leaf.keyPem, ...made.extra },
        Number(store.address.split(":")[1]),
      );
      try {
        const address = `${c.host ?? "localhost"}:${front.port}`;
        const argv = [`--remote-store-address=${address}`, "--remote-store-insecure=false"];
        let client: { certFile: string; keyFile: string } | undefined;
        if (c.clientCert) {
          const cert = issue({ cn: "agent", issuer: root });
          client = { certFile: join(caseDir, "client.pem"), keyFile: join(caseDir, "client.key") };
          await writeFile(client.certFile, cert.certPem);
          await writeFile(client.keyFile, cert.keyPem);
          argv.unshift(
            `--remote-store-client-cert=${client.certFile}`,
            `--remote-store-client-key=${client.keyFile}`,
          );
        }
        if (c.skipVerify) argv.unshift("--remote-store-insecure-skip-verify");
        const target = await targetFromArgv(argv, {});
        const result = await checkStore(target, { timeoutMs: 5000, caFile, env: noRoots });
        const verdict = await judge({
          address,
          caFile,
          ...(client ?? {}),
          ...(c.skipVerify ? { skipVerify: true } : {}),
          env: noRoots,
        });
        const code = result.diagnosis?.code ?? "";
        rows.push(
          `| ${c.name} | ${verdict.connect ? "connects" : `refuses (${verdict.stage}: ${verdict.error})`} | ${result.ok ? "passes" : "fails"} | ${code} |`,
        );
        // Pinned: Go's verdict and the check's, each as the corpus says (Go's error when not).
        expect({
          go: verdict.connect ? "connects" : `refuses (${verdict.error})`,
          check: result.ok ? "connects" : code,
        }).toEqual({
          go: c.verdict === "connects" ? "connects" : `refuses (${verdict.error})`,
          check: c.verdict,
        });
      } finally {
        await front.close();
      }
    });
  }
});
