// One store's HTTP/2 connection, as the relay reaches it.

import type { ClientHttp2Session } from "node:http2";
import * as http2 from "node:http2";
import type { PeerCertificate, SecureContext } from "node:tls";

/** Where calls go: the store the sidecar applied, as the agent would reach it. */
export interface RelayUpstream {
  /** The store's host:port: the name status and metrics give it. */
  readonly address: string;
  readonly insecure: boolean;
  /** Sent as the one `authorization: Bearer …` header of every call; never logged. */
  readonly token?: string;
  /** Extra request headers (the agent's --remote-store-grpc-headers), lower-case names. */
  readonly headers?: Readonly<Record<string, string>>;
  /** TLS: the agent's trust (roots, client certificate) and the name to verify. */
  readonly secureContext?: SecureContext;
  readonly servername?: string;
  /** The agent's --remote-store-insecure-skip-verify: any certificate is accepted. */
  readonly skipVerify?: boolean;
  /** Judges the certificate's names as the agent would; undefined: Node's own rules. */
  readonly checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** One store's HTTP/2 connection, opened on first use and drained when the upstream changes. */
export class StoreSession {
  private session: ClientHttp2Session | undefined;

  constructor(readonly upstream: RelayUpstream) {}

  get(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const { address, insecure, secureContext, servername, skipVerify } = this.upstream;
    const { checkServerIdentity } = this.upstream;
    const tls = {
      secureContext,
      ALPNProtocols: ["h2"],
      rejectUnauthorized: skipVerify !== true,
      ...(servername ? { servername } : {}),
      ...(checkServerIdentity ? { checkServerIdentity } : {}),
    };
    const session = http2.connect(`${insecure ? "http" : "https"}://${address}`, {
      ...(insecure ? {} : tls),
    });
    // A failed connection fails its streams, which answer the agent; the session's own error
    // event needs a listener so that it is not thrown.
    session.on("error", () => undefined);
    this.session = session;
    return session;
  }

  /** No new calls; those in flight finish, or are cut after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void> {
    const session = this.session;
    if (!session || session.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => session.destroy(), timeoutMs);
      timer.unref();
      session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(): void {
    this.session?.destroy();
  }
}
