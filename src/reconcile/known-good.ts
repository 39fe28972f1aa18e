import type { Logger } from "pino";
import { errnoOrMessage } from "../core/errors.js";
import { type StoreConfig, sameStore } from "../relation/types.js";

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

/** Where the last-known-good is kept; a file in the state dir, a fake in the loop's fast tests. */
export interface KnownGoodStore {
  readonly path: string;
  load(): Promise<KnownGood | undefined>;
  save(state: KnownGood): Promise<void>;
  clear(): Promise<void>;
}

/** The last-known-good in memory and on disk, and the rollback target it implies. */
export class KnownGoodKeeper {
  private known: KnownGood | undefined;

  constructor(
    private readonly store: KnownGoodStore,
    private readonly log: Logger,
  ) {}

  async load(): Promise<KnownGood | undefined> {
    this.known = await this.store.load();
    return this.known;
  }

  /**
   * Where a newly applied `config` goes back to if it crash-loops: the given target, else the
   * checked config running now, else the last-known-good — never `config` itself.
   */
  rollbackTarget(
    config: StoreConfig,
    given: StoreConfig | undefined,
    running: StoreConfig | undefined,
  ): StoreConfig | undefined {
    const target = given ?? running ?? this.known?.current;
    return target && !sameStore(target, config) ? target : undefined;
  }

  /**
   * Persists `current` (with `previous` as the rollback target). Resolves with why it could not
   * be written, or undefined: the agent keeps running either way.
   */
  async remember(
    current: StoreConfig,
    previous: StoreConfig | undefined,
  ): Promise<string | undefined> {
    const state: KnownGood = {
      current,
      ...(previous && !sameStore(previous, current) ? { previous } : {}),
      appliedAt: new Date().toISOString(),
    };
    this.known = state;
    try {
      await this.store.save(state);
      return undefined;
    } catch (err) {
      this.log.error(
        { event: "state_write_failed", path: this.store.path, error: (err as Error).message },
        "cannot persist the last-known-good config; the agent keeps running",
      );
      return errnoOrMessage(err);
    }
  }

  async forget(): Promise<void> {
    this.known = undefined;
    await this.store.clear();
  }
}
