import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import type { DiagnosisCode } from "./diagnosis.js";

/**
 * What the agent's Go TLS client accepts, for the check to accept no more (and no less):
 * docs/tls-fidelity.md lists the rules and the Go releases they come from.
 */
export const GO_CLIENT = {
  groups: "X25519:P-256:P-384:P-521",
  suites: "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
  sigalgs: [
    "ecdsa_secp256r1_sha256",
    "ecdsa_secp384r1_sha384",
    "ecdsa_secp521r1_sha512",
    "ed25519",
    "rsa_pss_rsae_sha256",
    "rsa_pss_rsae_sha384",
    "rsa_pss_rsae_sha512",
    "rsa_pkcs1_sha256",
    "rsa_pkcs1_sha384",
    "rsa_pkcs1_sha512",
  ].join(":"),
} as const;

const GO_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);
/** Groups by the names Node's getEphemeralKeyInfo() gives. */
const GO_GROUPS = new Set(["X25519", "prime256v1", "secp384r1", "secp521r1"]);
const GO_SUITES = new Set(GO_CLIENT.suites.split(":"));
/** Signature algorithms Go's crypto/x509 no longer verifies: SHA-1 and MD5 based. */
const WEAK_SIGNATURES = new Map([
  ["1.2.840.113549.1.1.5", "sha1WithRSAEncryption"],
  ["1.2.840.113549.1.1.4", "md5WithRSAEncryption"],
  ["1.2.840.10045.4.1", "ecdsa-with-SHA1"],
  ["1.2.840.10040.4.3", "dsa-with-SHA1"],
]);
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const ANY_USAGE = "2.5.29.37.0";

export interface GoRefusal {
  readonly code: DiagnosisCode;
  readonly detail: string;
}

/** Why Go cannot use this certificate's public key, if it cannot. */
export function unsupportedKey(cert: X509Certificate): string | undefined {
  const key = cert.publicKey;
  const type = key.asymmetricKeyType;
  if (type === "ed25519") return undefined;
  if (type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= 1024 ? undefined : `an RSA key of ${bits} bits`;
  }
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? "";
    return GO_CURVES.has(curve) ? undefined : `an EC key on ${curve || "an unnamed curve"}`;
  }
  return `a ${type ?? "unknown"} key`;
}

/** The length and start of the DER element at `at`. */
function element(der: Buffer, at: number): { start: number; end: number } {
  const first = der[at + 1] ?? 0;
  if (first < 0x80) return { start: at + 2, end: at + 2 + first };
  const n = first & 0x7f;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (der[at + 2 + i] ?? 0);
  return { start: at + 2 + n, end: at + 2 + n + length };
}

/** The parts of a certificate Node's X509Certificate does not expose: serial sign, signature OID. */
function certificateFields(raw: Buffer): { negativeSerial: boolean; signature: string } {
  const cert = element(raw, 0);
  const tbs = element(raw, cert.start);
  let at = tbs.start;
  if (raw[at] === 0xa0) at = element(raw, at).end; // explicit version
  const serial = element(raw, at);
  const negativeSerial = ((raw[serial.start] ?? 0) & 0x80) !== 0;
  const algorithm = element(raw, tbs.end);
  const oid = element(raw, algorithm.start);
  return { negativeSerial, signature: decodeOid(raw.subarray(oid.start, oid.end)) };
}

function decodeOid(bytes: Buffer): string {
  const first = bytes[0] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let value = 0;
  for (const byte of bytes.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}

/**
 * Go's refusals for the chain the server presented (leaf first). Parsing refuses unusable keys
 * and negative serials even with skip-verify; verification adds weak signatures and extended
 * key usages without serverAuth (the chain's root excepted, as Go does not check its own
 * signature).
 */
export function goChainRefusal(
  chain: readonly X509Certificate[],
  verify: boolean,
): GoRefusal | undefined {
  for (const [i, cert] of chain.entries()) {
    const { negativeSerial, signature } = certificateFields(cert.raw);
    const which =
      i === 0
        ? "the certificate"
        : `chain certificate ${i} (${cert.subject.replaceAll("\n", ", ")})`;
    if (negativeSerial)
      return { code: "TLS_CERT_UNSUPPORTED", detail: `${which} has a negative serial number` };
    const key = i === 0 || verify ? unsupportedKey(cert) : undefined;
    if (key) return { code: "TLS_CERT_UNSUPPORTED", detail: `${which} has ${key}` };
    if (!verify) continue;
    const selfSigned = cert.issuer === cert.subject;
    const weak = WEAK_SIGNATURES.get(signature);
    if (weak && !selfSigned)
      return { code: "TLS_CERT_UNSUPPORTED", detail: `${which} is signed with ${weak}` };
    const usages = cert.keyUsage;
    if (usages !== undefined && !usages.includes(SERVER_AUTH) && !usages.includes(ANY_USAGE)) {
      return {
        code: "TLS_CERT_WRONG_USAGE",
        detail: `${which} allows ${usages.join(", ") || "no usage"}`,
      };
    }
  }
  return undefined;
}

/** Go's host-name rules: subjectAltNames only; a wildcard only as the whole leftmost label. */
export function goHostnameRefusal(host: string, cert: X509Certificate): GoRefusal | undefined {
  const sans = (cert.subjectAltName ?? "").split(", ").filter(Boolean);
  if (sans.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? "";
    if (cn) return { code: "TLS_CERT_COMMON_NAME_ONLY", detail: `CN=${cn}, no subjectAltName` };
    return { code: "TLS_HOSTNAME_MISMATCH", detail: "the certificate names no host" };
  }
  const ips = sans.filter((s) => s.startsWith("IP Address:")).map((s) => s.slice(11));
  const dns = sans.filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4));
  if (isIP(host)) {
    if (ips.some((ip) => sameIp(ip, host))) return undefined;
    return { code: "TLS_HOSTNAME_MISMATCH", detail: `no IP subjectAltName is ${host}` };
  }
  const wanted = host.toLowerCase().replace(/\.$/, "");
  if (dns.some((pattern) => matches(pattern.toLowerCase(), wanted))) return undefined;
  return { code: "TLS_HOSTNAME_MISMATCH", detail: `valid for ${dns.join(", ") || ips.join(", ")}` };
}

/** A name Go accepts as a pattern: no bare "*", no empty label, "*" only as the first label. */
function validPattern(pattern: string): boolean {
  if (pattern === "" || pattern === "*") return false;
  return pattern
    .split(".")
    .every((label, i) => (i === 0 && label === "*") || /^[a-z0-9_:-]+$/.test(label));
}

function matches(pattern: string, host: string): boolean {
  if (!validPattern(pattern)) return false;
  const p = pattern.split(".");
  const h = host.split(".");
  if (p.length !== h.length) return false;
  return p.every((label, i) => (i === 0 && label === "*" ? h[0] !== "" : label === h[i]));
}

function sameIp(a: string, b: string): boolean {
  if (a === b) return true;
  const norm = (ip: string) => (isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname : ip);
  return norm(a) === norm(b);
}

/** Why the parameters a handshake negotiated are ones Go would not use, if so. */
export function goParametersRefusal(
  group: string | undefined,
  suite: string,
): GoRefusal | undefined {
  if (group !== undefined && !GO_GROUPS.has(group))
    return { code: "TLS_NO_SHARED_PARAMETERS", detail: `the server wants key exchange ${group}` };
  if (!GO_SUITES.has(suite))
    return { code: "TLS_NO_SHARED_PARAMETERS", detail: `the server wants ${suite}` };
  return undefined;
}

/** The peer's chain as X509Certificates, leaf first, from Node's linked peer certificate. */
export function peerChain(
  peer: { raw: Buffer; issuerCertificate?: unknown } | undefined,
): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<unknown>();
  for (let c = peer; c?.raw && !seen.has(c); c = c.issuerCertificate as typeof peer) {
    seen.add(c);
    chain.push(new X509Certificate(c.raw));
  }
  return chain;
}
