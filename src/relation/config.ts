import { quote } from "../problem.js";
import { validateAddress } from "./address.js";
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

/**
 * Validates a databag into a store config, or `undefined` when it holds no address yet
 * ("related, not configured": docs/relation.md). Throws RelationError for bad values.
 */
export function toStoreConfig(bag: Databag): StoreConfig | undefined {
  const address = (bag.get(KEY_ADDRESS) ?? "").trim();
  const insecure = parseInsecure((bag.get(KEY_INSECURE) ?? "").trim());
  const token = parseToken((bag.get(KEY_TOKEN) ?? "").trim());
  if (address === "") return undefined;
  validateAddress(address);
  return token === undefined ? { address, insecure } : { address, insecure, token };
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
