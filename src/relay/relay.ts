import { chmodSync, chownSync } from "node:fs";
import type {
  ClientHttp2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  ServerHttp2Stream,
} from "node:http2";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { type RelayAddress, relayListenTarget, removeStaleSocket } from "./address.js";
import {
  copyHeaders,
  DROPPED_REQUEST,
  DROPPED_RESPONSE,
  GRPC_INTERNAL,
  GRPC_UNAVAILABLE,
  headerValue,
  refuse,
} from "./headers.js";
import { type RelayUpstream, StoreSession } from "./store-session.js";

export type { RelayUpstream } from "./store-session.js";

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** One call through the relay, once it ended. */
export interface RelayCall {
  /** The store it went to, as given to `setUpstream`. */
  readonly upstream: RelayUpstream;
  readonly path: string;
  /** The store's grpc-status; undefined when the call never got one (reset, no trailers). */
  readonly grpcStatus: number | undefined;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

export interface RelayStoreStats {
  calls: number;
  bytesUp: number;
  bytesDown: number;
}

export interface RelayOptions {
  /** How long calls in flight may run on a store after the upstream changed. */
  readonly drainTimeoutMs: number;
  /** The largest request header block accepted from the agent. */
  readonly maxHeaderListBytes: number;
  readonly maxConcurrentStreams: number;
  /** A unix socket's mode. */
  readonly socketMode: number;
  /** A unix socket's group, when the operator names one. */
  readonly socketGid?: number;
  /** A call was sent on to `upstream` (its end is `onCall`). */
  readonly onCallStart?: (upstream: RelayUpstream, path: string) => void;
  readonly onCall?: (call: RelayCall) => void;
}

export const RELAY_DEFAULTS: RelayOptions = {
  drainTimeoutMs: 30_000,
  maxHeaderListBytes: 64 * 1024,
  maxConcurrentStreams: 100,
  socketMode: 0o600,
};

/**
 * A local gRPC relay: the agent talks to it over h2c (a unix socket or loopback port), and every
 * call — any service, any method, unary or streaming — is forwarded at the HTTP/2 level to the
 * current store, with the store's token and headers. Bodies are piped both ways, so HTTP/2 flow
 * control runs end to end. Changing the store sends new calls to the new one; calls in flight
 * finish where they started.
 */
export class Relay {
  private current: StoreSession | undefined;
  private refusal = "no store is configured yet";
  private readonly draining = new Set<StoreSession>();
  private readonly stores = new Map<string, RelayStoreStats>();
  /** The agents' connections, closed with the relay. */
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  private constructor(
    private readonly server: http2.Http2Server,
    readonly address: string,
    private readonly options: RelayOptions,
  ) {}

  /** Listens at `address` (see relay address rules); calls are refused until `setUpstream`. */
  static async listen(address: RelayAddress, options: Partial<RelayOptions> = {}): Promise<Relay> {
    const resolved = { ...RELAY_DEFAULTS, ...options };
    const server = http2.createServer({
      maxHeaderListPairs: 256,
      maxSessionMemory: 16,
      settings: {
        maxConcurrentStreams: resolved.maxConcurrentStreams,
        maxHeaderListSize: resolved.maxHeaderListBytes,
      },
    });
    // A peer that speaks something else, or breaks the protocol, loses its own connection only.
    server.on("sessionError", () => undefined);
    server.on("session", (session) => session.on("error", () => undefined));
    const target = relayListenTarget(address);
    if ("path" in target) removeStaleSocket(target.path);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(target, () => {
        server.off("error", reject);
        resolve();
      });
    });
    let bound: string;
    if ("path" in target) {
      chmodSync(target.path, resolved.socketMode);
      if (resolved.socketGid !== undefined) chownSync(target.path, -1, resolved.socketGid);
      bound = `unix:${target.path}`;
    } else {
      const info = server.address() as AddressInfo;
      bound =
        info.family === "IPv6" ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
    }
    const relay = new Relay(server, bound, resolved);
    server.on("session", (session) => {
      relay.sessions.add(session);
      session.once("close", () => relay.sessions.delete(session));
    });
    server.on("stream", (stream, headers) => relay.forward(stream, headers));
    return relay;
  }

  /**
   * New calls go to `upstream`, or are refused UNAVAILABLE with `reason` when it is undefined.
   * The previous store's calls in flight finish there (up to the drain timeout).
   */
  setUpstream(upstream: RelayUpstream | undefined, reason = "no store is configured"): void {
    const previous = this.current;
    this.current = upstream ? new StoreSession(upstream) : undefined;
    this.refusal = reason;
    if (previous) {
      this.draining.add(previous);
      void previous.drain(this.options.drainTimeoutMs).then(() => this.draining.delete(previous));
    }
  }

  /** The store new calls go to. */
  get upstream(): RelayUpstream | undefined {
    return this.current?.upstream;
  }

  /** Calls and bytes per store address, since the relay started. */
  stats(): ReadonlyMap<string, Readonly<RelayStoreStats>> {
    return this.stores;
  }

  /**
   * Stops accepting; the agents' connections get GOAWAY and their calls in flight finish, or are
   * cut after the drain timeout.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const timer = setTimeout(() => this.destroy(), this.options.drainTimeoutMs);
    timer.unref();
    for (const session of this.sessions) session.close();
    await closed;
    clearTimeout(timer);
    this.dropStores();
  }

  /** Stops accepting and cuts every connection at once. */
  destroy(): void {
    this.server.close();
    for (const session of this.sessions) session.destroy();
    this.dropStores();
  }

  /** Closes the connections to the stores, the current one and those still draining. */
  private dropStores(): void {
    this.current?.destroy();
    for (const s of this.draining) s.destroy();
  }

  private forward(down: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const target = this.current;
    const path = headerValue(headers[":path"]) ?? "";
    if (!target) {
      refuse(down, GRPC_UNAVAILABLE, `parca-agent-sidecar relay: ${this.refusal}`);
      return;
    }
    const { upstream } = target;
    const out: OutgoingHttpHeaders = { ":method": headers[":method"] ?? "POST", ":path": path };
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(":") || DROPPED_REQUEST.has(name) || value === undefined) continue;
      out[name] = value;
    }
    for (const [name, value] of Object.entries(upstream.headers ?? {})) {
      out[name.toLowerCase()] = value;
    }
    if (upstream.token !== undefined) out.authorization = `Bearer ${upstream.token}`;

    let up: ClientHttp2Stream;
    try {
      up = target.get().request(out);
    } catch (err) {
      refuse(down, GRPC_UNAVAILABLE, `parca-agent-sidecar relay: ${(err as Error).message}`);
      return;
    }
    const stats = this.storeStats(upstream.address);
    stats.calls++;
    this.options.onCallStart?.(upstream, path);
    let bytesUp = 0;
    let bytesDown = 0;
    let grpcStatus: number | undefined;
    let trailers: OutgoingHttpHeaders | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      stats.bytesUp += bytesUp;
      stats.bytesDown += bytesDown;
      this.options.onCall?.({ upstream, path, grpcStatus, bytesUp, bytesDown });
    };

    // A stream closed with an error code (by either side) reports it here; close handles it.
    down.on("error", () => undefined);
    down.on("data", (chunk: Buffer) => {
      bytesUp += chunk.length;
    });
    down.pipe(up);
    up.on("data", (chunk: Buffer) => {
      bytesDown += chunk.length;
    });
    up.on("response", (response) => {
      if (down.destroyed || down.closed) return;
      const copied = copyHeaders(response, DROPPED_RESPONSE);
      copied[":status"] = response[":status"] ?? 200;
      const status = headerValue(response["grpc-status"]);
      if (status !== undefined) {
        // Trailers-only: the whole answer is in these headers.
        grpcStatus = Number(status);
        down.respond(copied, { endStream: true });
        return;
      }
      down.respond(copied, { waitForTrailers: true });
      up.pipe(down);
    });
    up.on("trailers", (received) => {
      trailers = copyHeaders(received, DROPPED_RESPONSE);
      const status = headerValue(received["grpc-status"]);
      if (status !== undefined) grpcStatus = Number(status);
    });
    down.on("wantTrailers", () => {
      down.sendTrailers(
        trailers ?? {
          "grpc-status": String(GRPC_INTERNAL),
          "grpc-message": encodeURIComponent(
            "parca-agent-sidecar relay: the store sent no trailers",
          ),
        },
      );
    });
    up.on("error", (err) => {
      if (!down.headersSent) {
        refuse(
          down,
          GRPC_UNAVAILABLE,
          `parca-agent-sidecar relay: ${upstream.address}: ${err.message}`,
        );
      } else if (!down.closed) {
        down.close(NGHTTP2_INTERNAL_ERROR);
      }
    });
    up.on("close", () => {
      if (!down.headersSent && !down.closed) {
        refuse(
          down,
          GRPC_UNAVAILABLE,
          `parca-agent-sidecar relay: ${upstream.address} reset the call`,
        );
      } else if (!down.closed && trailers === undefined && grpcStatus === undefined) {
        down.close(NGHTTP2_INTERNAL_ERROR);
      }
      end();
    });
    down.on("close", () => {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      end();
    });
  }

  private storeStats(address: string): RelayStoreStats {
    let stats = this.stores.get(address);
    if (!stats) {
      stats = { calls: 0, bytesUp: 0, bytesDown: 0 };
      this.stores.set(address, stats);
    }
    return stats;
  }
}
