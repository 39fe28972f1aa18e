import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Where Go's crypto/x509 looks for the system roots on Linux, in its order. */
const CERT_FILES = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/pki/tls/cacert.pem",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
  "/etc/ssl/cert.pem",
];
const CERT_DIRS = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The roots the agent (Go) trusts: the first existing bundle file (or SSL_CERT_FILE) plus every
 * certificate file in the cert directories (or those of SSL_CERT_DIR). Node would trust only its
 * bundled Mozilla roots, so the check loads these itself.
 */
export function systemRoots(env: NodeJS.ProcessEnv): string[] {
  const found = new Set<string>();
  const files = env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : CERT_FILES;
  for (const file of files) {
    const text = readOrUndefined(file);
    if (text === undefined) continue;
    for (const pem of pemCertificates(text)) found.add(pem);
    break;
  }
  const dirs = env.SSL_CERT_DIR ? env.SSL_CERT_DIR.split(":").filter(Boolean) : CERT_DIRS;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        if (!statSync(path).isFile()) continue;
      } catch {
        continue;
      }
      for (const pem of pemCertificates(readOrUndefined(path) ?? "")) found.add(pem);
    }
  }
  return [...found];
}
