/**
 * Splits `host:port` at its last colon; a bracketed IPv6 host loses its brackets. The caller
 * validates: this only splits (relation data is validated in relation/address.ts).
 */
export function splitHostPort(address: string): { host: string; port: string } {
  const last = address.lastIndexOf(":");
  if (last < 0) return { host: address, port: "" };
  const rawHost = address.slice(0, last);
  const host = rawHost.startsWith("[") && rawHost.endsWith("]") ? rawHost.slice(1, -1) : rawHost;
  return { host, port: address.slice(last + 1) };
}

/** `host:port` again, with brackets around an IPv6 host. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
