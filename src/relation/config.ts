import { type Problem, problem, quote } from "../problem.js";
import { parseAddress } from "./address.js";
import { RelationError } from "./errors.js";
import {
  KEY_ADDRESS,
  KEY_INSECURE,
  KEY_TOKEN,
  MAX_TOKEN_BYTES,
  type StoreConfig,
} from "./types.js";

/** Flat relation data, values as text; keys other than the three relation keys are ignored. */
export type Databag = ReadonlyMap<string, string>;

/** A store config and what was noticed on the way to it (ADDRESS_FROM_URL). */
export interface ReadConfig {
  readonly config: StoreConfig;
  readonly warnings: readonly Problem[];
}

/**
 * Validates a databag into a store config, or `undefined` when it holds no address yet
 * ("related, not configured": docs/relation.md). Throws RelationError for bad values.
 */
export function toStoreConfig(bag: Databag, path = ""): ReadConfig | undefined {
  const written = (bag.get(KEY_ADDRESS) ?? "").trim();
  const insecure = parseInsecure((bag.get(KEY_INSECURE) ?? "").trim());
  const token = parseToken((bag.get(KEY_TOKEN) ?? "").trim());
  if (written === "") return undefined;
  const { address, url } = parseAddress(written, insecure);
  const config = token === undefined ? { address, insecure } : { address, insecure, token };
  return { config, warnings: url === undefined ? [] : [addressFromUrl(url, address, path)] };
}

/** A provider's URL taken as host:port: said, since the agent gets something else than written. */
function addressFromUrl(url: string, address: string, path: string): Problem {
  return problem(
    "ADDRESS_FROM_URL",
    `${KEY_ADDRESS} is the URL ${quote(url)}; the agent gets ${quote(address)}`,
    `nothing to change here: the provider (the store's side of the relation) writes its external URL verbatim, and the sidecar passes the agent the host:port it names; a provider that publishes ${quote(address)} itself makes this warning go away`,
    path,
  );
}

function parseInsecure(value: string): boolean {
  const lower = value.toLowerCase();
  if (lower === "" || lower === "false") return false;
  if (lower === "true") return true;
  throw new RelationError(
    "INVALID_INSECURE",
    `${KEY_INSECURE} is ${quote(value)}, not "true" or "false"`,
    `set ${KEY_INSECURE} to "true" for a plaintext store or "false" for TLS (an empty value means TLS)`,
  );
}

function parseToken(value: string): string | undefined {
  if (value === "") return undefined;
  if (/^bearer\s/i.test(value)) {
    throw new RelationError(
      "INVALID_TOKEN",
      `${KEY_TOKEN} starts with "${value.slice(0, 6)} ", an authorization scheme, not the token`,
      `drop the "Bearer " prefix from ${KEY_TOKEN}: the agent adds it itself`,
    );
  }
  if (Buffer.byteLength(value, "utf8") > MAX_TOKEN_BYTES) {
    throw new RelationError(
      "INVALID_TOKEN",
      `${KEY_TOKEN} is ${Buffer.byteLength(value, "utf8")} bytes long, more than the ${MAX_TOKEN_BYTES} accepted`,
      `set ${KEY_TOKEN} to the store's bearer token itself (printable ASCII, at most ${MAX_TOKEN_BYTES} bytes)`,
    );
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) {
      throw new RelationError(
        "INVALID_TOKEN",
        `${KEY_TOKEN} has a character that is not printable ASCII (code 0x${c.toString(16).padStart(2, "0")} at offset ${i})`,
        `set ${KEY_TOKEN} to the token alone: printable ASCII without spaces, quotes from a copy-paste or line breaks`,
      );
    }
  }
  return value;
}
