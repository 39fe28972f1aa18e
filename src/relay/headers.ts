// The headers of a call the relay forwards, and the answers it makes itself.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";

/** gRPC status codes the relay itself answers with. */
export const GRPC_UNAVAILABLE = 14;
export const GRPC_INTERNAL = 13;

/** Request headers that are the relay's to set, or that HTTP/2 forbids on a forwarded stream. */
export const DROPPED_REQUEST = new Set([
  "authorization",
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);
export const DROPPED_RESPONSE = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function copyHeaders(
  headers: IncomingHttpHeaders,
  dropped: ReadonlySet<string>,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || dropped.has(name) || value === undefined) continue;
    out[name] = value;
  }
  return out;
}

/** A trailers-only gRPC answer made by the relay itself. */
export function refuse(down: ServerHttp2Stream, code: number, message: string): void {
  if (down.destroyed || down.closed || down.headersSent) return;
  down.respond(
    {
      ":status": 200,
      "content-type": "application/grpc",
      "grpc-status": String(code),
      "grpc-message": encodeURIComponent(message),
    },
    { endStream: true },
  );
  // The request body, if any, is not wanted.
  down.resume();
}
