import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import type { StoreConfig } from "../relation/types.js";
import type { KnownGood, KnownGoodStore } from "./known-good.js";

const STATE_FILE_NAME = "last-known-good.json";

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
export class StateFile implements KnownGoodStore {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, STATE_FILE_NAME);
  }

  /** The persisted state; `undefined` when there is none, or it is unreadable or corrupt. */
  async load(): Promise<KnownGood | undefined> {
    let data: unknown;
    try {
      data = JSON.parse(await readFile(this.path, "utf8"));
    } catch {
      return undefined;
    }
    const v = data as KnownGood;
    if (!validConfig(v?.current) || (v.previous !== undefined && !validConfig(v.previous)))
      return undefined;
    return v;
  }

  save(state: KnownGood): Promise<void> {
    return writeFileAtomic(this.path, `${JSON.stringify(state)}\n`);
  }

  clear(): Promise<void> {
    return rm(this.path, { force: true });
  }
}
