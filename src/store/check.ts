import { lookup } from "node:dns/promises";
import {
  type ClientHttp2Session,
  connect as h2Connect,
  type OutgoingHttpHeaders,
} from "node:http2";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { checkServerIdentity, type TLSSocket, connect as tlsConnect } from "node:tls";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/grpc/health/v1/health_pb.js";
import {
  WriteArrowRequestSchema,
  WriteRawRequestSchema,
} from "../gen/parca/profilestore/v1alpha1/profilestore_pb.js";
import type { Problem } from "../problem.js";
import { scrub } from "../redact.js";
import { type DiagnosisCode, diagnose, StoreCheckError, type WarningCode } from "./diagnosis.js";
import { answersPlaintextH2, answersTls } from "./probe.js";
import type { Target } from "./target.js";
import { secureContextFor, TrustFileError } from "./tls-context.js";
import { CODE_NAMES, Code, TransportError, type UnaryResult, unaryCall } from "./unary.js";
import { agentPredatesArrow } from "./version.js";

export interface CheckOptions {
  /** The whole check's budget; no stage runs past it. */
  readonly timeoutMs: number;
  readonly caFile?: string;
  readonly agentVersion?: string;
  /** The sidecar's environment, for SSL_CERT_FILE / SSL_CERT_DIR. */
  readonly env: NodeJS.ProcessEnv;
  /** Ends the check early, its connection closed (newer data made it pointless). */
  readonly signal?: AbortSignal;
}

export interface Stage {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly address: string;
  readonly insecure: boolean;
  readonly stages: readonly Stage[];
  readonly diagnosis?: Problem;
  readonly warnings: readonly Problem[];
  readonly durationMs: number;
}

/** A check that failed before any stage ran (bad input, no store, unreadable token file). */
export function failedCheck(address: string, insecure: boolean, diagnosis: Problem): CheckResult {
  return { ok: false, address, insecure, stages: [], diagnosis, warnings: [], durationMs: 0 };
}

const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
const WRITE_RAW = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw";
const WRITE_ARROW = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteArrow";
const USER_AGENT = "parca-agent-sidecar-check";

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

function errorCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException)?.code ?? "");
}

/** One check run: its deadline, the stages it went through, and what it holds open. */
class Run {
  readonly stages: Stage[] = [];
  readonly warnings: Problem[] = [];
  readonly started = performance.now();
  readonly deadline: number;
  /** The address TCP reached, for follow-up probes. */
  ip = "";
  /** The first error the connection itself reported. */
  transportError: unknown;
  private readonly open: { destroy(): void }[] = [];

  constructor(
    readonly target: Target,
    readonly options: CheckOptions,
  ) {
    this.deadline = this.started + options.timeoutMs;
  }

  remaining(): number {
    return Math.max(0, this.deadline - performance.now());
  }

  hold<T extends { destroy(): void }>(resource: T): T {
    this.open.push(resource);
    return resource;
  }

  close(): void {
    for (const resource of this.open.splice(0).reverse()) resource.destroy();
  }

  warn(code: WarningCode): void {
    this.warnings.push(diagnose(code, { address: this.target.address, host: this.target.host }));
  }

  /** Runs a stage within what is left of the budget, and records it. */
  async stage<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const timeoutCode: DiagnosisCode =
      name === "dns" || name === "tcp" ? "CONNECT_TIMEOUT" : "DEADLINE_EXCEEDED";
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const { signal } = this.options;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreCheckError(timeoutCode)), this.remaining());
      onAbort = () => reject(new StoreCheckError("UNKNOWN", "check aborted"));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const value = await Promise.race([work(), timeout]);
      this.stages.push({ name, ok: true, durationMs: performance.now() - start });
      return value;
    } catch (err) {
      this.stages.push({ name, ok: false, durationMs: performance.now() - start });
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }
}

/**
 * Checks a store the way the agent will connect to it: dns → tcp → tls (unless insecure) →
 * health → write → arrow, all within one budget, on one connection. Never throws; a failure is
 * the diagnosis of the lowest stage that failed.
 */
export async function checkStore(target: Target, options: CheckOptions): Promise<CheckResult> {
  const run = new Run(target, options);
  let diagnosis: Problem | undefined;
  try {
    await stages(run);
  } catch (err) {
    diagnosis = toDiagnosis(run, err);
  } finally {
    run.close();
  }
  const clean = (p: Problem): Problem => ({
    ...p,
    message: scrub(p.message, target.tokens),
    hint: scrub(p.hint, target.tokens),
  });
  return {
    ok: diagnosis === undefined,
    address: target.address,
    insecure: target.insecure,
    stages: run.stages,
    ...(diagnosis ? { diagnosis: clean(diagnosis) } : {}),
    warnings: run.warnings.map(clean),
    durationMs: performance.now() - run.started,
  };
}

function toDiagnosis(run: Run, err: unknown): Problem {
  const context = {
    address: run.target.address,
    host: run.target.host,
    timeoutMs: run.options.timeoutMs,
    stage: run.stages.at(-1)?.name ?? "",
  };
  if (err instanceof StoreCheckError) {
    return diagnose(err.code, { ...context, ...(err.detail ? { detail: err.detail } : {}) });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return diagnose("UNKNOWN", { ...context, detail });
}

async function stages(run: Run): Promise<void> {
  const { target } = run;
  const addresses = await run.stage("dns", () => resolve(target.host));
  const socket = await run.stage("tcp", () => connectAny(run, addresses, target.port));
  const transport = target.insecure ? socket : await run.stage("tls", () => handshake(run, socket));
  const session = run.hold(
    h2Connect(`${target.insecure ? "http" : "https"}://${target.address}`, {
      createConnection: () => transport,
    }),
  );
  // Each call reports its own failure; a TLS alert that comes after the handshake (TLS 1.3 sends
  // a rejected client certificate's alert then) is kept to name it.
  session.on("error", (err: unknown) => {
    run.transportError ??= err;
  });
  transport.on("error", (err: unknown) => {
    run.transportError ??= err;
  });
  const metadata = callMetadata(target);
  await run.stage("health", () => health(run, session, metadata));
  await run.stage("write", () => writeRaw(run, session, metadata));
  await run.stage("arrow", () => writeArrow(run, session, metadata));
}

async function resolve(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    const found = await lookup(host, { all: true, verbatim: true });
    if (found.length === 0) throw new StoreCheckError("DNS_FAILURE", "no addresses");
    return found.map((a) => a.address);
  } catch (err) {
    if (err instanceof StoreCheckError) throw err;
    throw new StoreCheckError("DNS_FAILURE", errorCode(err) || undefined, { cause: err });
  }
}

/** Connects to the first address that accepts, in resolver order, as Go's dialer does. */
async function connectAny(run: Run, addresses: readonly string[], port: number): Promise<Socket> {
  let last: unknown;
  for (const ip of addresses) {
    try {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = run.hold(netConnect({ host: ip, port, noDelay: true }));
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      });
      run.ip = ip;
      return socket;
    } catch (err) {
      last = err;
    }
  }
  const code = errorCode(last);
  if (code === "ETIMEDOUT") throw new StoreCheckError("CONNECT_TIMEOUT", code, { cause: last });
  throw new StoreCheckError("CONNECTION_REFUSED", code || undefined, { cause: last });
}

async function handshake(run: Run, socket: Socket): Promise<TLSSocket> {
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
      err instanceof TrustFileError ? err.message : errorCode(err) || (err as Error).message;
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
      checkServerIdentity: (_host, cert) =>
        target.skipVerify ? undefined : checkServerIdentity(target.host, cert),
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
  return tlsSocket;
}

async function classifyTlsError(run: Run, err: unknown): Promise<StoreCheckError> {
  const code = errorCode(err);
  const of = (c: DiagnosisCode, detail = code) =>
    new StoreCheckError(c, detail || undefined, { cause: err });
  if (UNKNOWN_CA.has(code)) return of("TLS_UNKNOWN_CA");
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    return of("TLS_HOSTNAME_MISMATCH", (err as Error).message);
  if (code === "CERT_HAS_EXPIRED") return of("TLS_CERT_EXPIRED");
  if (TLS_GOT_PLAINTEXT.has(code)) return of("TLS_SERVER_IS_PLAINTEXT");
  if (TLS_OLD_VERSION.has(code)) return of("TLS_VERSION");
  if (TLS_NO_ALPN.has(code)) return of("TLS_NO_H2");
  if (
    PEER_CLOSED.has(code) &&
    (await answersPlaintextH2(run.ip, run.target.port, run.remaining()))
  ) {
    return of("TLS_SERVER_IS_PLAINTEXT");
  }
  return of("TLS_HANDSHAKE", code || (err as Error).message);
}

function callMetadata(target: Target): OutgoingHttpHeaders {
  const metadata: Record<string, string | string[]> = { "user-agent": USER_AGENT };
  for (const [name, value] of target.headers) {
    const existing = metadata[name];
    metadata[name] = existing === undefined ? value : [...[existing].flat(), value];
  }
  if (target.tokens.length > 0) {
    const auth = target.tokens.map((t) => `Bearer ${t}`);
    metadata.authorization = auth.length === 1 ? (auth[0] as string) : auth;
  }
  return metadata;
}

/** A call that may be the first on the connection: a dead plaintext stream may mean TLS. */
async function call(
  run: Run,
  session: ClientHttp2Session,
  path: string,
  request: Uint8Array,
  metadata: OutgoingHttpHeaders,
): Promise<UnaryResult> {
  try {
    return await unaryCall(session, path, request, metadata, run.remaining());
  } catch (err) {
    if (!(err instanceof TransportError)) throw err;
    const { target } = run;
    const servername = isIP(target.host) ? undefined : target.host;
    if (target.insecure && (await answersTls(run.ip, target.port, servername, run.remaining()))) {
      throw new StoreCheckError("TLS_REQUIRED_BY_SERVER", undefined, { cause: err });
    }
    const code = errorCode(run.transportError);
    if (!target.insecure && code.startsWith("ERR_SSL")) {
      throw new StoreCheckError("TLS_HANDSHAKE", code, { cause: run.transportError });
    }
    throw new StoreCheckError("UNKNOWN", `${err.message}`, { cause: err });
  }
}

/** The failure for a gRPC status no stage expects. */
function unexpected(stage: string, result: UnaryResult): StoreCheckError {
  const name = CODE_NAMES[result.code] ?? `code ${result.code}`;
  const detail = `${stage} answered ${name}${result.message ? `: ${result.message.slice(0, 200)}` : ""}`;
  if (result.code === Code.UNAUTHENTICATED)
    return new StoreCheckError("UNAUTHENTICATED", result.message.slice(0, 200) || undefined);
  if (result.code === Code.PERMISSION_DENIED)
    return new StoreCheckError("PERMISSION_DENIED", result.message.slice(0, 200) || undefined);
  if (result.code === Code.DEADLINE_EXCEEDED)
    return new StoreCheckError("DEADLINE_EXCEEDED", detail);
  return new StoreCheckError("UNKNOWN", detail);
}

async function health(
  run: Run,
  session: ClientHttp2Session,
  metadata: OutgoingHttpHeaders,
): Promise<void> {
  const request = toBinary(
    HealthCheckRequestSchema,
    create(HealthCheckRequestSchema, { service: "" }),
  );
  const result = await call(run, session, HEALTH_CHECK, request, metadata);
  if (result.code === Code.UNIMPLEMENTED) {
    run.warn("HEALTH_UNIMPLEMENTED");
    return;
  }
  if (result.code !== Code.OK) throw unexpected("Health/Check", result);
  const status = fromBinary(HealthCheckResponseSchema, result.body ?? new Uint8Array()).status;
  if (status !== HealthCheckResponse_ServingStatus.SERVING) {
    throw new StoreCheckError(
      "NOT_SERVING",
      `health status ${HealthCheckResponse_ServingStatus[status]}`,
    );
  }
}

async function writeRaw(
  run: Run,
  session: ClientHttp2Session,
  metadata: OutgoingHttpHeaders,
): Promise<void> {
  const request = toBinary(WriteRawRequestSchema, create(WriteRawRequestSchema));
  const result = await call(run, session, WRITE_RAW, request, metadata);
  if (result.code === Code.OK) return;
  if (result.code === Code.UNIMPLEMENTED) throw new StoreCheckError("NOT_A_PARCA_STORE");
  throw unexpected("WriteRaw", result);
}

async function writeArrow(
  run: Run,
  session: ClientHttp2Session,
  metadata: OutgoingHttpHeaders,
): Promise<void> {
  const request = toBinary(WriteArrowRequestSchema, create(WriteArrowRequestSchema));
  const result = await call(run, session, WRITE_ARROW, request, metadata);
  // An empty buffer is refused by a store that implements WriteArrow: that proves it does.
  if (result.code === Code.INVALID_ARGUMENT || result.code === Code.OK) return;
  if (result.code === Code.UNIMPLEMENTED) {
    if (agentPredatesArrow(run.options.agentVersion)) {
      run.warn("WRITE_ARROW_UNIMPLEMENTED");
      return;
    }
    throw new StoreCheckError("STORE_TOO_OLD");
  }
  throw unexpected("WriteArrow", result);
}
