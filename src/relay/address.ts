import { lstatSync, unlinkSync } from "node:fs";
import { isIPv4 } from "node:net";

/** Where the relay listens: a unix socket, or a loopback TCP port. */
export type RelayAddress =
  | { readonly path: string }
  | { readonly host: string; readonly port: number };

/** A relay address that is not `unix:/absolute/path` nor a loopback `host:port`. */
export class RelayAddressError extends Error {
  override readonly name = "RelayAddressError";
}

/**
 * Reads a relay address: `unix:/run/…/relay.sock` (an absolute path), or `host:port` where the
 * host is loopback (`127.x.x.x`, `[::1]`, `localhost`): the relay carries the store's token, so it
 * never listens where another machine could call it.
 */
export function parseRelayAddress(text: string): RelayAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (!path.startsWith("/")) {
      throw new RelayAddressError(`${JSON.stringify(text)}: write unix:/absolute/path`);
    }
    return { path };
  }
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) {
    throw new RelayAddressError(
      `${JSON.stringify(text)}: write unix:/path/relay.sock or a loopback host:port such as 127.0.0.1:7075`,
    );
  }
  const host = (m[1] as string).replace(/^\[(.*)\]$/, "$1");
  const port = Number(m[2]);
  if (port > 65_535)
    throw new RelayAddressError(`${JSON.stringify(text)}: port ${port} is over 65535`);
  const loopback =
    host === "localhost" || host === "::1" || (isIPv4(host) && host.startsWith("127."));
  if (!loopback) {
    throw new RelayAddressError(
      `${JSON.stringify(text)}: the relay listens on loopback only (127.0.0.1, [::1], localhost) or a unix socket: it sends the store's token with every call`,
    );
  }
  return { host, port };
}

/** What `server.listen` takes for an address. */
export function relayListenTarget(
  address: RelayAddress,
): { path: string } | { host: string; port: number } {
  return "path" in address ? { path: address.path } : { host: address.host, port: address.port };
}

/** A socket file left by a relay that was killed; anything else at the path is left alone. */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // nothing there
  }
}
