import type { Logger } from "pino";
import type { Runner } from "../agent/runner.js";
import type { Backoff } from "../core/backoff.js";
import type { Scrape } from "../delivery/scrape.js";
import type { RestartReason } from "../loop/events.js";
import type { Settings } from "../loop/state.js";
import type { SourceReader } from "../relation/reader.js";
import type { Secrets } from "../secrets.js";
import type { KnownGoodStore } from "../state-dir/known-good-file.js";
import type { MetricsMemory } from "../state-dir/metrics-memory.js";
import type { PauseFile } from "../state-dir/pause-file.js";
import type { CheckResult } from "../store/check.js";
import type { Checker } from "./checker.js";
import type { RelayCalls } from "./relay-delivery.js";

/** What the loop reports for metrics. */
export interface ReconcileObserver {
  /** A check whose result counts (shown in status); discarded checks are not reported. */
  checked(result: CheckResult): void;
  /**
   * A config was applied; `reactionMs` from the first file event that led to it, if any;
   * `restart` says why a running agent was restarted for it (undefined: none ran).
   */
  applied(reactionMs: number | undefined, restart: RestartReason | undefined): void;
  /** A config was rolled back, for this reason (AGENT_CRASH_LOOP, AGENT_WRITES_FAILING, …). */
  rolledBack(code: string): void;
}

/** What the loop's executors work with: its rules' settings, and the world they act on. */
export interface ReconcilerOptions
  extends Omit<Settings, "metricsUrl" | "metricsExpected" | "deliveryTimeoutMs"> {
  readonly sources: SourceReader;
  /** Backoff of check retries for a config that failed its check. */
  readonly retry: Backoff;
  readonly runner: Runner;
  readonly checker: Checker;
  readonly knownGood: KnownGoodStore;
  /** Where a Pause is kept across restarts; without it a Pause lasts as long as the process. */
  readonly pauseFile?: PauseFile;
  readonly log: Logger;
  readonly secrets: Secrets;
  readonly observer?: ReconcileObserver;
  /** Reading the agent's metrics to see whether it delivers (url undefined: off). */
  readonly delivery?: DeliveryOptions;
  /** When the last file event still waiting out its quiet period happened (performance.now()). */
  readonly unsettledSince?: () => number | undefined;
}

export interface DeliveryOptions {
  /** The agent's /metrics; undefined: reading them is off. */
  readonly url: string | undefined;
  /** How long a newly applied config has to prove itself with an OK write. */
  readonly timeoutMs: number;
  /** Metrics are expected from the start (the agent's version is known). */
  readonly expected: boolean;
  /** Whether an earlier agent on this state dir exported the write counters; remembers it. */
  readonly memory: MetricsMemory;
  readonly scrape: (url: string) => Promise<Scrape>;
  readonly random?: () => number;
  /**
   * Run with --relay: delivery is what the relay carried (every write's status), not the
   * agent's metrics; `url` is then unused.
   */
  readonly relay?: { readonly address: string; readonly calls: RelayCalls };
}
