import { CodedError } from "../core/errors.js";
import { FLAG_V2_SCHEMA } from "../flag-names.js";
import { type Problem, quote } from "../problem.js";

export type DiagnosisCode =
  | "DNS_FAILURE"
  | "CONNECTION_REFUSED"
  | "CONNECT_TIMEOUT"
  | "TLS_SERVER_IS_PLAINTEXT"
  | "TLS_REQUIRED_BY_SERVER"
  | "TLS_VERSION"
  | "TLS_NO_H2"
  | "TLS_UNKNOWN_CA"
  | "TLS_HOSTNAME_MISMATCH"
  | "TLS_CERT_EXPIRED"
  | "TLS_HANDSHAKE"
  | "TLS_CERT_COMMON_NAME_ONLY"
  | "TLS_CERT_UNSUPPORTED"
  | "TLS_NO_SHARED_PARAMETERS"
  | "TLS_CERT_WRONG_USAGE"
  | "NOT_SERVING"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "NOT_A_PARCA_STORE"
  | "STORE_TOO_OLD"
  | "DEADLINE_EXCEEDED"
  | "NOT_CONFIGURED"
  | "PROXY_UPSTREAM_UNAVAILABLE"
  | "PROXY_NO_ROUTE"
  | "RATE_LIMITED"
  | "NOT_GRPC"
  | "UNKNOWN";

export type WarningCode = "HEALTH_UNIMPLEMENTED" | "WRITE_STREAM_UNANSWERED";

/** What the check knew when it failed, for the sentence and the hint. */
export interface Context {
  readonly address: string;
  readonly host: string;
  /** A detail from Node or the server (error code, grpc-message), token-free. */
  readonly detail?: string;
  readonly timeoutMs?: number;
  readonly stage?: string;
}

/** Why a check stage failed; the message and hint are made from the code and context. */
export class StoreCheckError extends CodedError<DiagnosisCode> {
  override readonly name = "StoreCheckError";
  constructor(
    code: DiagnosisCode,
    readonly detail?: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${code}${detail ? `: ${detail}` : ""}`, options);
  }
}

const ADDRESS = "remote-store-address";
const INSECURE = "remote-store-insecure";
const TOKEN = "remote-store-bearer-token";

type Template = (c: Context) => readonly [message: string, hint: string];

const TEMPLATES: Record<DiagnosisCode | WarningCode, Template> = {
  DNS_FAILURE: (c) => [
    `the store host ${quote(c.host)} does not resolve${c.detail ? ` (${c.detail})` : ""}`,
    `fix the host in ${ADDRESS}, or the node's DNS if the name is right`,
  ],
  CONNECTION_REFUSED: (c) => [
    `nothing accepts connections at ${c.address}${c.detail ? ` (${c.detail})` : ""}`,
    `check the port in ${ADDRESS} and that the store (or its ingress) is running`,
  ],
  CONNECT_TIMEOUT: (c) => [
    `no connection to ${c.address} within ${c.timeoutMs} ms (during ${c.stage})`,
    `a firewall or network policy may drop packets to ${c.address}; check it, or the host in ${ADDRESS}`,
  ],
  TLS_SERVER_IS_PLAINTEXT: (c) => [
    `TLS is configured but ${c.address} speaks plaintext gRPC`,
    `set ${INSECURE} to "true" for this port, or point ${ADDRESS} at the TLS ingress in front of the store`,
  ],
  TLS_REQUIRED_BY_SERVER: (c) => [
    `plaintext is configured but ${c.address} speaks TLS`,
    `set ${INSECURE} to "false" (TLS), or point ${ADDRESS} at the store's plaintext port`,
  ],
  TLS_VERSION: (c) => [
    `${c.address} does not offer TLS 1.3, which the agent requires${c.detail ? ` (${c.detail})` : ""}`,
    "enable TLS 1.3 on the ingress or proxy in front of the store",
  ],
  TLS_NO_H2: (c) => [
    `${c.address} does not negotiate HTTP/2 (ALPN h2), which gRPC needs`,
    "enable HTTP/2 with ALPN h2 on the ingress in front of the store (e.g. nginx grpc_pass on an http2 listener)",
  ],
  TLS_UNKNOWN_CA: (c) => [
    `the certificate of ${c.address} is not signed by a trusted CA${c.detail ? ` (${c.detail})` : ""}`,
    "install the store's CA on the node (the agent trusts the system roots) and give it to the sidecar with --ca-file, or set --remote-store-insecure-skip-verify in the agent's args",
  ],
  TLS_HOSTNAME_MISMATCH: (c) => [
    `the certificate of ${c.address} is not valid for ${quote(c.host)}${c.detail ? ` (${c.detail})` : ""}`,
    `set the host in ${ADDRESS} to a name the certificate covers`,
  ],
  TLS_CERT_EXPIRED: (c) => [
    `the certificate of ${c.address} has expired or is not valid yet${c.detail ? ` (${c.detail})` : ""}`,
    "renew the certificate of the store's ingress (or fix the clock of the node or the ingress)",
  ],
  TLS_CERT_COMMON_NAME_ONLY: (c) => [
    `the certificate of ${c.address} names ${quote(c.host)} only in its Common Name, which the agent's Go TLS ignores`,
    "reissue the store's certificate with the host name as a subjectAltName (DNS or IP)",
  ],
  TLS_CERT_UNSUPPORTED: (c) => [
    `the certificate of ${c.address} uses what the agent's Go TLS cannot verify${c.detail ? ` (${c.detail})` : ""}`,
    "reissue it with an RSA (2048 bits or more), ECDSA P-256/P-384/P-521 or Ed25519 key, a SHA-256 (or stronger) signature and a positive serial number",
  ],
  TLS_NO_SHARED_PARAMETERS: (c) => [
    `${c.address} and the agent share no TLS 1.3 key exchange group or cipher suite${c.detail ? ` (${c.detail})` : ""}`,
    "let the ingress offer X25519 or P-256 and TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256",
  ],
  TLS_CERT_WRONG_USAGE: (c) => [
    `a certificate in the chain of ${c.address} is not allowed for TLS servers (extended key usage)${c.detail ? ` (${c.detail})` : ""}`,
    "reissue the store's certificate (and any intermediate with an extended key usage) with serverAuth",
  ],
  TLS_HANDSHAKE: (c) => [
    `the TLS handshake with ${c.address} failed${c.detail ? ` (${c.detail})` : ""}`,
    `check the store's TLS setup and ${INSECURE}; with mTLS, check --remote-store-client-cert/--remote-store-client-key`,
  ],
  NOT_SERVING: (c) => [
    `the store at ${c.address} reports it is not serving${c.detail ? ` (${c.detail})` : ""}`,
    "the store is starting or shutting down: wait for it, or check its logs",
  ],
  UNAUTHENTICATED: (c) => [
    `the store at ${c.address} answered UNAUTHENTICATED${c.detail ? `: ${c.detail}` : ""}`,
    `fix ${TOKEN} in the relation data (or the agent's token flag)`,
  ],
  PERMISSION_DENIED: (c) => [
    `the store at ${c.address} answered PERMISSION_DENIED${c.detail ? `: ${c.detail}` : ""}`,
    `the token may not write profiles: fix ${TOKEN} or its permissions at the store`,
  ],
  NOT_A_PARCA_STORE: (c) => [
    `${c.address} answers gRPC but has no Parca ProfileStoreService`,
    `point ${ADDRESS} at the Parca store's gRPC port (7070 by default, or its ingress)`,
  ],
  STORE_TOO_OLD: (c) => [
    `the store at ${c.address} answers the Write stream but not WriteArrow, which this agent writes with (it says ${c.detail ?? "UNIMPLEMENTED"}): a Parca older than v0.28, or a scraper-only Parca that forwards only Write`,
    `either point ${ADDRESS} at a store that takes WriteArrow (a storing Parca v0.28 or later, or its ingress; the provider writes that key), or add ${FLAG_V2_SCHEMA}=false to the agent's base args (agents v0.47.1 and later then write over the Write stream); an agent older than v0.48 writes over Write anyway: pass --agent-version`,
  ],
  DEADLINE_EXCEEDED: (c) => [
    `${c.address} accepted the connection but did not answer within ${c.timeoutMs} ms (during ${c.stage})`,
    `check that ${ADDRESS} is the store's gRPC port and that ${INSECURE} matches it; the store may be overloaded`,
  ],
  NOT_CONFIGURED: () => [
    "no store is configured",
    `write ${ADDRESS} (and ${INSECURE}) to the relation data`,
  ],
  PROXY_UPSTREAM_UNAVAILABLE: (c) => [
    `an ingress or proxy at ${c.address} answered${c.detail ? ` ${c.detail}` : " 502/503/504"}: the store behind it is down or not reachable from it`,
    "check the store's pods and the Service or upstream the ingress points at (nginx grpc_pass, Caddy reverse_proxy)",
  ],
  PROXY_NO_ROUTE: (c) => [
    `${c.address} answered${c.detail ? ` ${c.detail}` : " HTTP 404"} without a gRPC status: nothing is routed there for the store's gRPC paths`,
    `route /grpc.health.v1.Health/ and /parca.profilestore.v1alpha1.ProfileStoreService/ (or /) to the store in the ingress, or fix the host in ${ADDRESS}`,
  ],
  RATE_LIMITED: (c) => [
    `${c.address} answered${c.detail ? ` ${c.detail}` : " HTTP 429"}: an ingress or proxy limits the request rate`,
    "raise the ingress's rate limit for the agents, or wait; the check is retried with backoff",
  ],
  NOT_GRPC: (c) => [
    `${c.address} does not answer gRPC${c.detail ? ` (${c.detail})` : ""}`,
    `point ${ADDRESS} at the store's gRPC port or its gRPC ingress, not a web page or an HTTP/1.1 server`,
  ],
  UNKNOWN: (c) => [
    `the check of ${c.address} failed${c.stage ? ` during ${c.stage}` : ""}${c.detail ? `: ${c.detail}` : ""}`,
    `check ${ADDRESS} and the store's logs`,
  ],
  WRITE_STREAM_UNANSWERED: (c) => [
    `${c.address} answered an empty Write stream with OK, where a storing Parca refuses it: a scraper-only Parca (a forwarder), which relays the agent's writes upstream but never relays the answers the agent waits for, so its writes are expected to fail`,
    `point ${ADDRESS} at the storing Parca or its ingress (the provider writes that key); the sidecar watches the agent's writes and rolls back, with the agent's words, if they fail`,
  ],
  HEALTH_UNIMPLEMENTED: (c) => [
    `${c.address} has no gRPC health service; the check goes on without it`,
    "nothing to do for a Parca store behind a proxy that hides the health service",
  ],
};

export function diagnose(code: DiagnosisCode | WarningCode, context: Context): Problem {
  const [message, hint] = TEMPLATES[code](context);
  return { code, message, hint, path: "" };
}
