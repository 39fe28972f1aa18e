import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { isIP } from "node:net";

/**
 * X.509 certificates made at test time with node:crypto and a small DER writer: a CA, leaves
 * signed by it with any names and validity, expired ones included (the openssl CLI of the
 * machine cannot back-date), any key type Node can make, SHA-1 or SHA-256 signatures, chosen
 * key usages, path lengths, name constraints, an unknown critical extension, negative serials.
 */

function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...parts: Buffer[]) => der(0x30, ...parts);
const set = (...parts: Buffer[]) => der(0x31, ...parts);
const octets = (b: Buffer) => der(0x04, b);
const bits = (b: Buffer) => der(0x03, Buffer.from([0]), b);
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => der(0x0c, Buffer.from(s, "utf8"));

/** A DER INTEGER, minimally encoded: OpenSSL refuses a redundant leading zero byte. */
function integer(raw: Buffer): Buffer {
  let value = raw;
  while (value.length > 1 && value[0] === 0 && !((value[1] ?? 0) & 0x80)) value = value.subarray(1);
  return der(0x02, (value[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return date.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : der(0x18, Buffer.from(`${iso}Z`));
}

function name(cn: string): Buffer {
  return seq(set(seq(oid("2.5.4.3"), utf8(cn))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function subjectAltNames(names: readonly string[]): Buffer {
  return seq(
    ...names.map((n) => {
      const ip = isIP(n);
      if (ip === 4) return der(0x87, Buffer.from(n.split(".").map(Number)));
      if (ip === 6) return der(0x87, ipv6Bytes(n));
      return der(0x82, Buffer.from(n, "ascii"));
    }),
  );
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail = ""] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t]
    : h;
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

const NULL = Buffer.from([0x05, 0x00]);

export type KeyType =
  | "ec-p256"
  | "ec-p384"
  | "ec-p521"
  | "ec-brainpool"
  | "rsa-512"
  | "rsa-1024"
  | "rsa-2048"
  | "rsa-pss"
  | "ed25519"
  | "ed448";

function keyPair(type: KeyType) {
  switch (type) {
    case "ec-p256":
      return generateKeyPairSync("ec", { namedCurve: "P-256" });
    case "ec-p384":
      return generateKeyPairSync("ec", { namedCurve: "P-384" });
    case "ec-p521":
      return generateKeyPairSync("ec", { namedCurve: "P-521" });
    case "ec-brainpool":
      return generateKeyPairSync("ec", { namedCurve: "brainpoolP256r1" });
    case "rsa-512":
      return generateKeyPairSync("rsa", { modulusLength: 512 });
    case "rsa-1024":
      return generateKeyPairSync("rsa", { modulusLength: 1024 });
    case "rsa-2048":
      return generateKeyPairSync("rsa", { modulusLength: 2048 });
    case "rsa-pss":
      return generateKeyPairSync("rsa-pss", { modulusLength: 2048 });
    case "ed25519":
      return generateKeyPairSync("ed25519");
    case "ed448":
      return generateKeyPairSync("ed448");
  }
}

/** The signature algorithm an issuer's key signs with, and how to sign. */
function signer(key: KeyObject, hash: "sha256" | "sha1") {
  const type = key.asymmetricKeyType;
  if (type === "ed25519" || type === "ed448") {
    const id = seq(oid(type === "ed25519" ? "1.3.101.112" : "1.3.101.113"));
    return { id, sign: (tbs: Buffer) => sign(null, tbs, key) };
  }
  if (type === "rsa") {
    const id = seq(oid(hash === "sha1" ? "1.2.840.113549.1.1.5" : "1.2.840.113549.1.1.11"), NULL);
    return { id, sign: (tbs: Buffer) => sign(hash, tbs, key) };
  }
  if (type === "ec") {
    const id = seq(oid(hash === "sha1" ? "1.2.840.10045.4.1" : "1.2.840.10045.4.3.2"));
    return { id, sign: (tbs: Buffer) => sign(hash, tbs, { key, dsaEncoding: "der" }) };
  }
  throw new Error(`an issuer with a ${type} key is not supported here`);
}

const EKU = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" } as const;

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
  readonly key: KeyObject;
  readonly spki: Buffer;
  readonly cn: string;
}

export interface IssueOptions {
  readonly cn: string;
  /** DNS names and IP addresses for subjectAltName. */
  readonly names?: readonly string[];
  /** DNS names written as they are (any case, wildcards), no IP detection. */
  readonly dnsNames?: readonly string[];
  readonly ca?: boolean;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** The issuer; self-signed when absent. */
  readonly issuer?: Issued;
  /** Default: ec-p256. */
  readonly keyType?: KeyType;
  /** The issuer's signature hash; default sha256. */
  readonly hash?: "sha256" | "sha1";
  /** Extended key usages of a leaf; default serverAuth and clientAuth; [] for none. */
  readonly extKeyUsage?: readonly (keyof typeof EKU)[];
  /** A CA's path length constraint. */
  readonly pathLen?: number;
  /** A CA's permitted DNS subtrees. */
  readonly permittedDns?: readonly string[];
  /** Adds a critical extension no verifier knows. */
  readonly unknownCritical?: boolean;
  /** A negative serial number (refused by Go since 1.23). */
  readonly negativeSerial?: boolean;
}

function keyId(spki: Buffer): Buffer {
  return createHash("sha1").update(spki).digest();
}

export function issue(options: IssueOptions): Issued {
  const { privateKey, publicKey } = keyPair(options.keyType ?? "ec-p256");
  const spki = publicKey.export({ type: "spki", format: "der" });
  const issuer = options.issuer;
  const now = Date.now();
  const basic = options.ca
    ? seq(
        bool(true),
        ...(options.pathLen === undefined ? [] : [integer(Buffer.from([options.pathLen]))]),
      )
    : seq();
  const extensions = [
    extension("2.5.29.19", true, basic),
    extension(
      "2.5.29.15",
      true,
      options.ca ? bits(Buffer.from([0x06])) : bits(Buffer.from([0x80])),
    ),
    extension("2.5.29.14", false, octets(keyId(spki))),
    extension("2.5.29.35", false, seq(der(0x80, keyId(issuer ? issuer.spki : spki)))),
  ];
  const usages = options.extKeyUsage ?? (options.ca ? [] : ["serverAuth", "clientAuth"]);
  if (usages.length > 0) {
    extensions.push(extension("2.5.29.37", false, seq(...usages.map((u) => oid(EKU[u])))));
  }
  const sans = [
    ...(options.names && options.names.length > 0 ? [subjectAltNames(options.names)] : []),
  ];
  if (options.dnsNames && options.dnsNames.length > 0) {
    const dns = options.dnsNames.map((n) => der(0x82, Buffer.from(n, "ascii")));
    extensions.push(extension("2.5.29.17", false, seq(...dns)));
  } else if (sans[0]) {
    extensions.push(extension("2.5.29.17", false, sans[0]));
  }
  if (options.permittedDns) {
    const subtrees = options.permittedDns.map((d) => seq(der(0x82, Buffer.from(d, "ascii"))));
    extensions.push(extension("2.5.29.30", true, seq(der(0xa0, ...subtrees))));
  }
  if (options.unknownCritical) {
    extensions.push(extension("1.3.6.1.4.1.55555.1", true, der(0x0c, Buffer.from("x"))));
  }
  const serial = createHash("sha256").update(`${options.cn}${Math.random()}`).digest();
  serial[0] = options.negativeSerial ? (serial[0] ?? 0) | 0x80 : (serial[0] ?? 0) & 0x7f;
  const by = signer(issuer ? issuer.key : privateKey, options.hash ?? "sha256");
  const tbs = seq(
    der(0xa0, integer(Buffer.from([2]))),
    options.negativeSerial ? der(0x02, serial.subarray(0, 12)) : integer(serial.subarray(0, 12)),
    by.id,
    name(issuer ? issuer.cn : options.cn),
    seq(
      time(options.notBefore ?? new Date(now - 3_600_000)),
      time(options.notAfter ?? new Date(now + 86_400_000)),
    ),
    name(options.cn),
    spki,
    der(0xa3, seq(...extensions)),
  );
  const cert = seq(tbs, by.id, bits(by.sign(tbs)));
  const b64 = cert.toString("base64").replace(/.{64}/g, "$&\n");
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`,
    keyPem: String(privateKey.export({ type: "pkcs8", format: "pem" })),
    key: privateKey,
    spki,
    cn: options.cn,
  };
}

/** A CA and the leaves a TLS test needs, all made now. */
export function makePki() {
  const ca = issue({ cn: "parca-agent-sidecar test CA", ca: true });
  const otherCa = issue({ cn: "untrusted test CA", ca: true });
  const names = ["localhost", "127.0.0.1", "::1"];
  return {
    ca,
    leaf: issue({ cn: "localhost", names, issuer: ca }),
    wrongHost: issue({ cn: "parca.example.com", names: ["parca.example.com"], issuer: ca }),
    expired: issue({
      cn: "localhost",
      names,
      issuer: ca,
      notBefore: new Date(Date.now() - 20 * 86_400_000),
      notAfter: new Date(Date.now() - 10 * 86_400_000),
    }),
    untrusted: issue({ cn: "localhost", names, issuer: otherCa }),
    selfSigned: issue({ cn: "localhost", names }),
    client: issue({ cn: "agent", issuer: ca }),
  };
}
