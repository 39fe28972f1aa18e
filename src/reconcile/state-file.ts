import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../agent/atomic.js";
import type { StoreConfig } from "../relation/types.js";

export const STATE_FILE_NAME = "last-known-good.json";

/**
 * What survives a sidecar restart: the last config that passed its check and ran, and the one
 * before it, which stays the rollback target until the newer one has run for --min-uptime-ms.
 * Holds the token, so it is written 0600.
 */
export interface KnownGood {
  readonly current: StoreConfig;
  readonly previous?: StoreConfig;
  readonly appliedAt: string;
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

export class StateFile {
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
    return writeFileAtomic(this.path, `${JSON.stringify(state)}\n`, 0o600);
  }

  clear(): Promise<void> {
    return rm(this.path, { force: true });
  }
}
