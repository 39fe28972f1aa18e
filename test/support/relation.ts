import { rename, writeFile } from "node:fs/promises";

/** Writes relation data as a Juju hook does: a temp file renamed over the watched one. */
export async function writeRelation(path: string, bag: Record<string, string>): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(bag));
  await rename(`${path}.tmp`, path);
}

/** The relation data of a plaintext store at `address`. */
export function plaintext(address: string): Record<string, string> {
  return { "remote-store-address": address, "remote-store-insecure": "true" };
}

/** The relation data of a TLS store at `address`, with a bearer token. */
export function tlsWithToken(address: string, token: string): Record<string, string> {
  return {
    "remote-store-address": address,
    "remote-store-insecure": "false",
    "remote-store-bearer-token": token,
  };
}
