import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import type { KnownGood } from "../loop/state.js";
import type { StoreConfig } from "../relation/types.js";

const FILE_NAME = "last-known-good.json";

/**
 * The last-known-good as it is kept: the loop's, with when it was written. Holds the token, so
 * it is written 0600.
 */
export interface KnownGoodRecord extends KnownGood {
  readonly appliedAt: string;
}

/** Where the last-known-good is kept; a file in the state dir, a fake in the loop's fast tests. */
export interface KnownGoodStore {
  readonly path: string;
  load(): Promise<KnownGoodRecord | undefined>;
  save(record: KnownGoodRecord): Promise<void>;
  clear(): Promise<void>;
}

function validConfig(value: unknown): value is StoreConfig {
  const v = value as StoreConfig;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.address === "string" &&
    typeof v.insecure === "boolean" &&
    (v.token === undefined || typeof v.token === "string")
  );
}

/** The last-known-good as `<state dir>/last-known-good.json`. */
export class KnownGoodFile implements KnownGoodStore {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, FILE_NAME);
  }

  /** The persisted state; `undefined` when there is none, or it is unreadable or corrupt. */
  async load(): Promise<KnownGoodRecord | undefined> {
    let data: unknown;
    try {
      data = JSON.parse(await readFile(this.path, "utf8"));
    } catch {
      return undefined;
    }
    const v = data as KnownGoodRecord;
    if (!validConfig(v?.current) || (v.previous !== undefined && !validConfig(v.previous)))
      return undefined;
    return v;
  }

  save(record: KnownGoodRecord): Promise<void> {
    return writeFileAtomic(this.path, `${JSON.stringify(record)}\n`);
  }

  clear(): Promise<void> {
    return rm(this.path, { force: true });
  }
}
