import type { ClientHttp2Session, OutgoingHttpHeaders } from "node:http2";
import { isIP } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { errnoCode } from "../core/errors.js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/grpc/health/v1/health_pb.js";
import { WriteArrowRequestSchema } from "../gen/parca/profilestore/v1alpha1/profilestore_pb.js";
import { StoreCheckError } from "./diagnosis.js";
import { answersHttp1, answersTls } from "./probe.js";
import type { Run } from "./run.js";
import type { Target } from "./target.js";
import { CODE_NAMES, Code, TransportError, type UnaryResult, unaryCall } from "./unary.js";

const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
const WRITE = "/parca.profilestore.v1alpha1.ProfileStoreService/Write";
const WRITE_ARROW = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteArrow";
const USER_AGENT = "parca-agent-sidecar-check";

export function callMetadata(target: Target): OutgoingHttpHeaders {
  const metadata: Record<string, string | string[]> = { "user-agent": USER_AGENT };
  for (const [name, value] of target.headers) {
    const existing = metadata[name];
    metadata[name] = existing === undefined ? value : [...[existing].flat(), value];
  }
  if (target.bearer !== undefined) metadata.authorization = `Bearer ${target.bearer}`;
  return metadata;
}

/** A call that may be the first on the connection: a dead plaintext stream may mean TLS. */
async function call(
  run: Run,
  session: ClientHttp2Session,
  path: string,
  request: Uint8Array | undefined,
  metadata: OutgoingHttpHeaders,
): Promise<UnaryResult> {
  let result: UnaryResult;
  try {
    result = await unaryCall(session, path, request, metadata, run.remaining());
  } catch (err) {
    if (!(err instanceof TransportError)) throw err;
    const { target } = run;
    // TLS first: a TLS port answers plaintext HTTP/1.1 too (nginx: 400, "The plain HTTP
    // request was sent to HTTPS port").
    const servername = isIP(target.host) ? undefined : target.host;
    if (target.insecure && (await answersTls(run.ip, target.port, servername, run.remaining()))) {
      throw new StoreCheckError("TLS_REQUIRED_BY_SERVER", undefined, { cause: err });
    }
    if (target.insecure && (await answersHttp1(run.ip, target.port, run.remaining()))) {
      throw new StoreCheckError("NOT_GRPC", "a plaintext HTTP/1.1 server", { cause: err });
    }
    const code = errnoCode(run.transportError);
    if (!target.insecure && code.startsWith("ERR_SSL")) {
      throw new StoreCheckError("TLS_HANDSHAKE", code, { cause: run.transportError });
    }
    throw new StoreCheckError("UNKNOWN", `${err.message}`, { cause: err });
  }
  if (result.http) throw notGrpc(result.http);
  return result;
}

/** An answer without a gRPC status: what the intermediary (or a web server) said. */
function notGrpc(http: { readonly status: number; readonly contentType: string }): StoreCheckError {
  const detail = `HTTP ${http.status}${http.contentType ? ` (${http.contentType})` : ""}`;
  if (http.status === 502 || http.status === 503 || http.status === 504)
    return new StoreCheckError("PROXY_UPSTREAM_UNAVAILABLE", detail);
  if (http.status === 404) return new StoreCheckError("PROXY_NO_ROUTE", detail);
  if (http.status === 429) return new StoreCheckError("RATE_LIMITED", detail);
  if (http.status === 401) return new StoreCheckError("UNAUTHENTICATED", detail);
  if (http.status === 403) return new StoreCheckError("PERMISSION_DENIED", detail);
  return new StoreCheckError("NOT_GRPC", detail);
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

export async function health(
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

/**
 * The Write bidi stream as the agent opens it, half-closed without a message: Parca answers
 * INVALID_ARGUMENT ("failed to receive request: EOF") and stores nothing; a scraper-only Parca
 * answers OK, which passes with WRITE_STREAM_UNANSWERED: it never relays its upstream's answers,
 * which the agent waits for. UNIMPLEMENTED is no Parca store.
 */
export async function writeStream(
  run: Run,
  session: ClientHttp2Session,
  metadata: OutgoingHttpHeaders,
): Promise<void> {
  const result = await call(run, session, WRITE, undefined, metadata);
  if (result.code === Code.INVALID_ARGUMENT) return;
  if (result.code === Code.OK) return run.warn("WRITE_STREAM_UNANSWERED");
  if (result.code === Code.UNIMPLEMENTED) throw new StoreCheckError("NOT_A_PARCA_STORE");
  throw unexpected("Write", result);
}

/**
 * WriteArrow with an empty buffer: a store that implements it refuses that (INVALID_ARGUMENT),
 * which proves it does. UNIMPLEMENTED from a store whose Write stream answers is a Parca too old
 * for this agent or a scraper-only one (quoted: their words tell them apart); otherwise no Parca
 * store at all.
 */
export async function writeArrow(
  run: Run,
  session: ClientHttp2Session,
  metadata: OutgoingHttpHeaders,
): Promise<void> {
  const request = toBinary(WriteArrowRequestSchema, create(WriteArrowRequestSchema));
  const result = await call(run, session, WRITE_ARROW, request, metadata);
  if (result.code === Code.INVALID_ARGUMENT || result.code === Code.OK) return;
  if (result.code === Code.UNIMPLEMENTED) {
    const write = await call(run, session, WRITE, undefined, metadata);
    const parca = write.code === Code.INVALID_ARGUMENT || write.code === Code.OK;
    const words = `UNIMPLEMENTED${result.message ? ` "${result.message.slice(0, 200)}"` : ""}`;
    throw new StoreCheckError(parca ? "STORE_TOO_OLD" : "NOT_A_PARCA_STORE", words);
  }
  throw unexpected("WriteArrow", result);
}
