import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContext } from "node:tls";
import { GO_CLIENT } from "./go-tls.js";
import { pemCertificates, systemRoots } from "./roots.js";

export interface TrustOptions {
  readonly caFile?: string;
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A file the TLS setup needs could not be read. */
export class TrustFileError extends Error {
  override readonly name = "TrustFileError";
}

const CACHE_MS = 60_000;
const cache = new Map<string, { context: SecureContext; at: number }>();

function read(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (cause) {
    throw new TrustFileError(`cannot read ${what} ${path}`, { cause });
  }
}

/**
 * The TLS settings the agent uses: TLS 1.3 at least, only the groups, suites and signature
 * algorithms Go offers, the system roots as Go loads them plus --ca-file, and the client
 * certificate for mTLS. Built once a minute at most: parsing a few
 * hundred roots costs more than the rest of a check.
 */
export function secureContextFor(options: TrustOptions): SecureContext {
  const key = JSON.stringify([
    options.caFile,
    options.clientCertFile,
    options.clientKeyFile,
    options.env.SSL_CERT_FILE,
    options.env.SSL_CERT_DIR,
  ]);
  const hit = cache.get(key);
  const now = Date.now();
  if (hit && now - hit.at < CACHE_MS) return hit.context;
  const ca = systemRoots(options.env);
  if (options.caFile) ca.push(...pemCertificates(read(options.caFile, "--ca-file")));
  const context = createSecureContext({
    minVersion: "TLSv1.3",
    ciphers: GO_CLIENT.suites,
    ecdhCurve: GO_CLIENT.groups,
    sigalgs: GO_CLIENT.sigalgs,
    ca,
    ...(options.clientCertFile
      ? { cert: read(options.clientCertFile, "--remote-store-client-cert") }
      : {}),
    ...(options.clientKeyFile
      ? { key: read(options.clientKeyFile, "--remote-store-client-key") }
      : {}),
  });
  cache.set(key, { context, at: now });
  return context;
}
