import type { Logger } from "pino";
import type { RenderOptions } from "../agent/flags.js";
import type { Runner } from "../agent/runner.js";
import type { Backoff } from "../core/backoff.js";
import type { Secrets } from "../log.js";
import type { CheckResult } from "../store/check.js";
import type { Checker } from "./checker.js";
import type { DeliveryGuardOptions } from "./delivery-guard.js";
import type { KnownGoodStore } from "./known-good.js";
import type { PauseFile } from "./pause.js";
import type { SourceReader } from "./sources.js";
import type { OnRemove, Unverified } from "./state.js";

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

/** Why the sidecar restarted a running agent (crash restarts are the runner's own). */
export type RestartReason = "config" | "rollback";

export interface ReconcilerOptions {
  readonly sources: SourceReader;
  readonly baseArgs: readonly string[];
  readonly render: RenderOptions;
  readonly unverified: Unverified;
  readonly onRemove: OnRemove;
  readonly removeGraceMs: number;
  readonly minUptimeMs: number;
  /** Backoff of check retries for a config that failed its check. */
  readonly retry: Backoff;
  readonly runner: Runner;
  readonly checker: Checker;
  readonly state: KnownGoodStore;
  /** Where a Pause is kept across restarts; without it a Pause lasts as long as the process. */
  readonly pauseFile?: PauseFile;
  readonly log: Logger;
  readonly secrets: Secrets;
  readonly observer?: ReconcileObserver;
  /** Reading the agent's metrics to see whether it delivers (url undefined: off). */
  readonly delivery?: Omit<DeliveryGuardOptions, "log">;
  /** When the last file event still waiting out its quiet period happened (performance.now()). */
  readonly unsettledSince?: () => number | undefined;
}
