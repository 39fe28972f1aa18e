import { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import { isIP } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { errnoCode } from "../core/errors.js";
import { type DiagnosisCode, StoreCheckError } from "./diagnosis.js";
import {
  goChainRefusal,
  goHostnameRefusal,
  goParametersRefusal,
  peerChain,
  unsupportedKey,
} from "./go-tls.js";
import { answersPlaintextH2, certificateOverTls12, handshakeWithDefaults } from "./probe.js";
import type { Run } from "./run.js";
import { secureContextFor, TrustFileError } from "./tls-context.js";

const UNKNOWN_CA = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
]);
const TLS_GOT_PLAINTEXT = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "ERR_SSL_HTTP_REQUEST",
]);
const TLS_OLD_VERSION = new Set([
  "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
  "ERR_SSL_UNSUPPORTED_PROTOCOL",
  "ERR_SSL_NO_PROTOCOLS_AVAILABLE",
]);
const TLS_NO_ALPN = new Set(["ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"]);
const PEER_CLOSED = new Set(["ECONNRESET", "EPIPE", "ERR_SSL_UNEXPECTED_EOF_WHILE_READING"]);
/** OpenSSL's verdicts on a key or a signature too weak, which Go refuses as well. */
const WEAK = new Set(["EE_KEY_TOO_SMALL", "CA_KEY_TOO_SMALL", "CA_MD_TOO_WEAK"]);
/** The code our host-name check gives a certificate that names the host only in its CN. */
const CN_ONLY = "GO_CERT_COMMON_NAME_ONLY";

/**
 * The TLS stage: TLS 1.3 with ALPN h2, SNI for names only (as Go), the system roots plus
 * --ca-file, the agent's client certificate; every failure classified.
 */
export async function handshake(run: Run, socket: Socket): Promise<TLSSocket> {
  const { target } = run;
  let secureContext: ReturnType<typeof secureContextFor>;
  try {
    secureContext = secureContextFor({
      ...(run.options.caFile ? { caFile: run.options.caFile } : {}),
      ...(target.clientCertFile ? { clientCertFile: target.clientCertFile } : {}),
      ...(target.clientKeyFile ? { clientKeyFile: target.clientKeyFile } : {}),
      env: run.options.env,
    });
  } catch (err) {
    // An unreadable file names itself; a bad certificate or key has an OpenSSL code.
    const detail =
      err instanceof TrustFileError ? err.message : errnoCode(err) || (err as Error).message;
    throw new StoreCheckError("TLS_HANDSHAKE", detail, { cause: err });
  }
  // Go sends no SNI for an IP address; the certificate is still checked against it.
  const servername = isIP(target.host) ? undefined : target.host;
  const tlsSocket = run.hold(
    tlsConnect({
      socket,
      secureContext,
      ...(servername ? { servername } : {}),
      ALPNProtocols: ["h2"],
      rejectUnauthorized: !target.skipVerify,
      checkServerIdentity: (_host, cert) => {
        if (target.skipVerify) return undefined;
        const refusal = goHostnameRefusal(target.host, new X509Certificate(cert.raw));
        if (refusal === undefined) return undefined;
        const code =
          refusal.code === "TLS_CERT_COMMON_NAME_ONLY" ? CN_ONLY : "ERR_TLS_CERT_ALTNAME_INVALID";
        return Object.assign(new Error(refusal.detail), { code });
      },
    }),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      tlsSocket.once("secureConnect", resolve);
      tlsSocket.once("error", reject);
      tlsSocket.once("close", () =>
        reject(Object.assign(new Error("connection closed"), { code: "ECONNRESET" })),
      );
    });
  } catch (err) {
    throw await classifyTlsError(run, err);
  }
  if (tlsSocket.getProtocol() !== "TLSv1.3")
    throw new StoreCheckError("TLS_VERSION", tlsSocket.getProtocol() ?? "");
  if (tlsSocket.alpnProtocol !== "h2") {
    throw new StoreCheckError(
      "TLS_NO_H2",
      tlsSocket.alpnProtocol ? `ALPN ${tlsSocket.alpnProtocol}` : "no ALPN",
    );
  }
  // What OpenSSL accepted, Go may not: refused here, before any request (and token) is sent.
  const refusal = goChainRefusal(peerChain(tlsSocket.getPeerCertificate(true)), !target.skipVerify);
  if (refusal) throw new StoreCheckError(refusal.code, refusal.detail);
  return tlsSocket;
}

async function classifyTlsError(run: Run, err: unknown): Promise<StoreCheckError> {
  const code = errnoCode(err);
  const of = (c: DiagnosisCode, detail = code) =>
    new StoreCheckError(c, detail || undefined, { cause: err });
  if (UNKNOWN_CA.has(code)) return of("TLS_UNKNOWN_CA");
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    return of("TLS_HOSTNAME_MISMATCH", (err as Error).message);
  if (code === CN_ONLY) return of("TLS_CERT_COMMON_NAME_ONLY", (err as Error).message);
  if (code === "CERT_HAS_EXPIRED") return of("TLS_CERT_EXPIRED", "expired");
  if (code === "CERT_NOT_YET_VALID") return of("TLS_CERT_EXPIRED", "not valid yet");
  if (code === "INVALID_PURPOSE") return of("TLS_CERT_WRONG_USAGE");
  if (WEAK.has(code)) return of("TLS_CERT_UNSUPPORTED");
  if (TLS_GOT_PLAINTEXT.has(code)) return of("TLS_SERVER_IS_PLAINTEXT");
  if (TLS_OLD_VERSION.has(code)) return of("TLS_VERSION");
  if (TLS_NO_ALPN.has(code)) return of("TLS_NO_H2");
  if (
    PEER_CLOSED.has(code) &&
    (await answersPlaintextH2(run.ip, run.target.port, run.remaining()))
  ) {
    return of("TLS_SERVER_IS_PLAINTEXT");
  }
  if (code.startsWith("ERR_SSL")) {
    const named = await whyNoHandshake(run);
    if (named) return new StoreCheckError(named.code, named.detail, { cause: err });
  }
  return of("TLS_HANDSHAKE", code || (err as Error).message);
}

/**
 * After a handshake limited to what Go offers failed: what would the server have used with
 * OpenSSL's defaults? A key Go cannot use, or a group or suite Go does not offer, names it.
 */
async function whyNoHandshake(run: Run) {
  const servername = isIP(run.target.host) ? undefined : run.target.host;
  const seen = await handshakeWithDefaults(run.ip, run.target.port, servername, run.remaining());
  // No TLS 1.3 handshake at all: the certificate may still be seen over TLS 1.2.
  const peer =
    seen?.peer ??
    (await certificateOverTls12(run.ip, run.target.port, servername, run.remaining()));
  const leaf = peer ? peerChain(peer)[0] : undefined;
  const key = leaf ? unsupportedKey(leaf) : undefined;
  if (key) return { code: "TLS_CERT_UNSUPPORTED" as const, detail: `the certificate has ${key}` };
  return seen ? goParametersRefusal(seen.group, seen.suite) : undefined;
}
