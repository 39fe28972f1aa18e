import type { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";

/** gRPC status codes the check tells apart. */
export const Code = {
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

export interface UnaryResult {
  readonly code: number;
  readonly message: string;
  /** The response message bytes (unframed), when the call returned one. */
  readonly body?: Uint8Array;
  /**
   * Set when the answer was not gRPC at all (no grpc-status): an intermediary's HTTP status
   * and content type. `code` is then gRPC's mapping of the HTTP status.
   */
  readonly http?: { readonly status: number; readonly contentType: string };
}

/** The transport failed before the server gave a gRPC status (reset, refused stream, GOAWAY). */
export class TransportError extends Error {
  override readonly name = "TransportError";
}

/** gRPC's mapping of HTTP status codes for responses that are not gRPC. */
function httpStatusToCode(status: number): number {
  if (status === 400) return Code.INTERNAL;
  if (status === 401) return Code.UNAUTHENTICATED;
  if (status === 403) return Code.PERMISSION_DENIED;
  if (status === 404) return Code.UNIMPLEMENTED;
  if (status === 429 || status === 502 || status === 503 || status === 504) return Code.UNAVAILABLE;
  return Code.UNKNOWN;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function decodeMessage(raw: string | undefined): string {
  if (!raw) return "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * One gRPC call on an existing HTTP/2 session, with at most one request message: the request
 * framed with the 5-byte prefix (none: the stream is half-closed without a message, as a
 * client stream that sends nothing), `te: trailers`, the deadline sent as `grpc-timeout`. Resolves with the gRPC status
 * (from trailers, or from the headers of a trailers-only response); rejects with
 * TransportError when the stream dies without one.
 */
export function unaryCall(
  session: ClientHttp2Session,
  path: string,
  request: Uint8Array | undefined,
  metadata: OutgoingHttpHeaders,
  timeoutMs: number,
): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${Math.max(1, Math.ceil(timeoutMs))}m`,
      ...metadata,
    });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => undefined); // reported through 'close' below
    stream.on("close", () => {
      const status = Number(headers[":status"] ?? 0);
      const grpcStatus = header(trailers ?? {}, "grpc-status") ?? header(headers, "grpc-status");
      if (grpcStatus !== undefined) {
        const body = Buffer.concat(chunks);
        resolve({
          code: Number(grpcStatus),
          message: decodeMessage(
            header(trailers ?? {}, "grpc-message") ?? header(headers, "grpc-message"),
          ),
          ...(body.length >= 5 ? { body: body.subarray(5, 5 + body.readUInt32BE(1)) } : {}),
        });
      } else if (
        status !== 0 &&
        (status !== 200 || !String(headers["content-type"] ?? "").startsWith("application/grpc"))
      ) {
        const contentType = String(headers["content-type"] ?? "");
        resolve({
          code: status === 200 ? Code.UNKNOWN : httpStatusToCode(status),
          message: `HTTP status ${status}${contentType ? ` (${contentType})` : ""}`,
          http: { status, contentType },
        });
      } else {
        const rst = stream.rstCode;
        reject(
          new TransportError(
            `stream closed without a gRPC status${rst ? ` (HTTP/2 error ${rst})` : ""}`,
          ),
        );
      }
    });
    if (request === undefined) {
      stream.end();
    } else {
      const frame = Buffer.alloc(5 + request.length);
      frame.writeUInt32BE(request.length, 1);
      frame.set(request, 5);
      stream.end(frame);
    }
  });
}
