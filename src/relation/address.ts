import { isIPv4, isIPv6 } from "node:net";
import { quote } from "../problem.js";
import { RelationError } from "./errors.js";
import { KEY_ADDRESS } from "./types.js";

const EXAMPLE = "e.g. parca.example.com:7070 or 10.0.0.5:7070";
const DNS_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function invalid(message: string, hint: string): RelationError {
  return new RelationError("INVALID_ADDRESS", `${KEY_ADDRESS} ${message}`, hint);
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** A default port for a URL scheme, to suggest a fix for `https://host`. */
function schemePort(scheme: string): string {
  if (scheme === "https" || scheme === "grpcs") return "443";
  if (scheme === "http") return "80";
  return "7070";
}

/** Parses `host:port` as the agent's gRPC dialer takes it; throws INVALID_ADDRESS with a fix. */
export function validateAddress(value: string): string {
  const shown = quote(value);
  if (hasControlCharacter(value)) {
    throw invalid(
      `${shown} contains control characters`,
      `set ${KEY_ADDRESS} to host:port, ${EXAMPLE}`,
    );
  }
  if (/\s/.test(value)) {
    throw invalid(
      `${shown} contains whitespace`,
      `remove the whitespace: set ${KEY_ADDRESS} to host:port, ${EXAMPLE}`,
    );
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value);
  if (scheme) {
    const rest = value.slice(scheme[0].length).split("/")[0] ?? "";
    const fixed = /:\d+$/.test(rest)
      ? rest
      : `${rest}:${schemePort(scheme[1]?.toLowerCase() ?? "")}`;
    throw invalid(
      `${shown} has a URL scheme; the agent takes host:port only`,
      `drop the "${scheme[1]}://" prefix (and any path): set ${KEY_ADDRESS} to ${quote(fixed)}`,
    );
  }
  if (value.startsWith("-")) {
    throw invalid(`${shown} starts with "-"`, `set ${KEY_ADDRESS} to host:port, ${EXAMPLE}`);
  }
  const slash = value.indexOf("/");
  if (slash >= 0) {
    throw invalid(
      `${shown} has a path; the agent takes host:port only`,
      `remove ${quote(value.slice(slash))}: set ${KEY_ADDRESS} to ${quote(value.slice(0, slash))}`,
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
