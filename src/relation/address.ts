import { isIPv4, isIPv6 } from "node:net";
import { quote } from "../problem.js";
import { RelationError } from "./errors.js";
import { KEY_ADDRESS, KEY_INSECURE, KEY_TOKEN } from "./types.js";

const EXAMPLE = "e.g. parca.example.com:7070 or 10.0.0.5:7070";
const DNS_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Where the fix is made: the provider writes the key, so every hint says so. */
const WHO_WRITES = `${KEY_ADDRESS} is written by the provider (the store's side of the relation)`;

/** INVALID_ADDRESS with a fix, and who makes it. */
function invalid(message: string, fix: string): RelationError {
  return providerMust(message, `${fix}; ${WHO_WRITES}`);
}

/** INVALID_ADDRESS whose hint already says what the provider must publish. */
function providerMust(message: string, hint: string): RelationError {
  return new RelationError("INVALID_ADDRESS", `${KEY_ADDRESS} ${message}`, hint);
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** The default port of each URL scheme a provider may publish, and what it says of TLS. */
const URL_SCHEMES: Readonly<Record<string, { port: string; insecure: boolean }>> = {
  https: { port: "443", insecure: false },
  http: { port: "80", insecure: true },
};

/** `scheme://…`, or one of grpc-go's target schemes that go without slashes (`unix:/path`). */
function urlScheme(value: string): string | undefined {
  const match =
    /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value) ??
    /^(unix|unix-abstract|dns|passthrough|vsock|xds):/i.exec(value);
  return match?.[1]?.toLowerCase();
}

/** An address as the agent gets it, and the URL it was read from, if it was one. */
export interface ParsedAddress {
  /** `host:port`: what the agent is given and the check dials. */
  readonly address: string;
  /** The provider's URL (`https://grpc.polarsignals.com`), when the address was one. */
  readonly url?: string;
}

/**
 * Parses `remote-store-address` as a provider writes it: `host:port`, or a URL with no path
 * (the provider library writes its `external_url` verbatim, docs/relation.md), taken as the
 * `host:port` it names. `insecure` is the relation's `remote-store-insecure`, which the URL's
 * scheme must agree with. Throws INVALID_ADDRESS with a fix.
 */
export function parseAddress(value: string, insecure: boolean): ParsedAddress {
  checkCharacters(value);
  const scheme = urlScheme(value);
  if (scheme !== undefined) return { address: fromUrl(value, scheme, insecure), url: value };
  return { address: hostPort(value) };
}

function checkCharacters(value: string): void {
  const shown = quote(value);
  if (hasControlCharacter(value)) {
    throw invalid(`${shown} contains control characters`, `write host:port, ${EXAMPLE}`);
  }
  if (/\s/.test(value)) {
    throw invalid(
      `${shown} contains whitespace`,
      `remove the whitespace: write host:port, ${EXAMPLE}`,
    );
  }
}

/** `https://host[:port][/]` → `host:port`, or INVALID_ADDRESS saying why not. */
function fromUrl(value: string, scheme: string, insecure: boolean): string {
  const shown = quote(value);
  const known = URL_SCHEMES[scheme];
  if (known === undefined) {
    throw invalid(
      `${shown} is a ${quote(`${scheme}:`)} URL; the agent dials host:port only`,
      `publish the store's gRPC endpoint as host:port (or an https:// or http:// URL without a path), ${EXAMPLE}`,
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(
      `${shown} is not a valid URL`,
      `publish the store's gRPC endpoint as host:port, ${EXAMPLE}`,
    );
  }
  // The raw text, too: WHATWG URL drops an empty "?" or "#".
  const rest = value.slice(scheme.length + 3);
  if (url.username || url.password || rest.includes("@")) {
    throw invalid(
      `${shown} carries user info; the agent authenticates with the bearer token only`,
      `publish the URL without "user@" (the token belongs in ${KEY_TOKEN})`,
    );
  }
  const address = `${url.hostname}:${url.port || known.port}`;
  if ((url.pathname !== "/" && url.pathname !== "") || /[?#]/.test(rest)) {
    throw providerMust(
      `${shown} has a path, query or fragment: it names a path-routed HTTP ingress, and gRPC cannot be routed through a path prefix (every call goes to /package.Service/Method)`,
      `the provider must publish the store's gRPC endpoint as host:port (its external_url), e.g. ${quote(address)}, served by a gRPC ingress at the root`,
    );
  }
  if (known.insecure !== insecure) {
    throw providerMust(
      `${shown} says ${scheme} but ${KEY_INSECURE} is ${quote(String(insecure))}`,
      `the provider must publish the two keys in agreement: ${scheme === "https" ? `https with ${KEY_INSECURE} "false" (TLS)` : `http with ${KEY_INSECURE} "true" (plaintext)`}, or the other scheme`,
    );
  }
  return hostPort(address);
}

/** Validates `host:port` as the agent's gRPC dialer takes it; throws INVALID_ADDRESS with a fix. */
function hostPort(value: string): string {
  const shown = quote(value);
  if (value.startsWith("-")) {
    throw invalid(`${shown} starts with "-"`, `write host:port, ${EXAMPLE}`);
  }
  const slash = value.indexOf("/");
  if (slash >= 0) {
    throw invalid(
      `${shown} has a path; the agent takes host:port only`,
      `remove ${quote(value.slice(slash))}: write ${quote(value.slice(0, slash))}`,
    );
  }
  const { host, port, bracketed } = splitHostPort(value, shown);
  validatePort(port, shown);
  if (!bracketed) validateHost(host, shown);
  return value;
}

function splitHostPort(
  value: string,
  shown: string,
): { host: string; port: string; bracketed: boolean } {
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    const host = close > 0 ? value.slice(1, close) : "";
    if (close < 0 || !isIPv6(host)) {
      throw invalid(
        `${shown} has a malformed bracketed IPv6 host`,
        `write [IPv6]:port, e.g. [fd00::5]:7070`,
      );
    }
    const rest = value.slice(close + 1);
    if (!rest.startsWith(":") || rest.length === 1) {
      throw invalid(
        `${shown} has no port`,
        `add the store's port: set ${KEY_ADDRESS} to "${value}:7070"`,
      );
    }
    return { host, port: rest.slice(1), bracketed: true };
  }
  const last = value.lastIndexOf(":");
  if (last < 0) {
    throw invalid(
      `${shown} has no port`,
      `add the store's port: set ${KEY_ADDRESS} to "${value}:7070" (plaintext Parca) or "${value}:443" (TLS ingress)`,
    );
  }
  if (value.indexOf(":") !== last) {
    const head = value.slice(0, last);
    const tail = value.slice(last + 1);
    const splits = isIPv6(head) && /^\d{1,5}$/.test(tail);
    const bare = splits ? head : value;
    const port = splits ? tail : "7070";
    if (isIPv6(bare)) {
      throw invalid(
        `${shown} has an IPv6 host without brackets`,
        `put the IPv6 address in brackets: set ${KEY_ADDRESS} to "[${bare}]:${port}"`,
      );
    }
    throw invalid(`${shown} has more than one ":"`, `set ${KEY_ADDRESS} to host:port, ${EXAMPLE}`);
  }
  return { host: value.slice(0, last), port: value.slice(last + 1), bracketed: false };
}

function validatePort(port: string, shown: string): void {
  const n = /^\d{1,5}$/.test(port) ? Number(port) : Number.NaN;
  if (!(n >= 1 && n <= 65535)) {
    throw invalid(
      `${shown} has port ${quote(port)}, not a number from 1 to 65535`,
      `set the port in ${KEY_ADDRESS} to the store's gRPC port, e.g. 7070 or 443`,
    );
  }
}

function validateHost(host: string, shown: string): void {
  if (host === "") {
    throw invalid(`${shown} has no host`, `put the store's host before the port, ${EXAMPLE}`);
  }
  if (/^[\d.]+$/.test(host)) {
    if (isIPv4(host)) return;
    throw invalid(
      `${shown} has ${quote(host)}, not a valid IPv4 address`,
      `fix the IP address in ${KEY_ADDRESS}, ${EXAMPLE}`,
    );
  }
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length <= 253 && name.split(".").every((label) => DNS_LABEL.test(label))) return;
  throw invalid(
    `${shown} has host ${quote(host)}, which is neither an IPv4 address, a bracketed IPv6 address nor a DNS name`,
    `set ${KEY_ADDRESS} to host:port, ${EXAMPLE}`,
  );
}
