/** The relation data keys written by a `parca_store` provider (docs/relation.md). */
export const KEY_ADDRESS = "remote-store-address";
export const KEY_INSECURE = "remote-store-insecure";
export const KEY_TOKEN = "remote-store-bearer-token";
export const RELATION_KEYS = [KEY_ADDRESS, KEY_INSECURE, KEY_TOKEN] as const;

/** A validated store config: what the agent will be pointed at. */
export interface StoreConfig {
  /** `host:port`, validated. */
  readonly address: string;
  /** true = plaintext gRPC, false = TLS. */
  readonly insecure: boolean;
  /** The bearer token from the relation, if it supplies one. Never print it. */
  readonly token?: string;
}

export function sameStore(a: StoreConfig | undefined, b: StoreConfig | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.address === b.address && a.insecure === b.insecure && a.token === b.token;
}

/** Largest source (file, or key file of a directory) read, in bytes. */
export const MAX_SOURCE_BYTES = 1024 * 1024;
/** Largest bearer token accepted, in bytes. */
export const MAX_TOKEN_BYTES = 8 * 1024;
