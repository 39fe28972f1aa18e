import type { Launch } from "../agent/runner.js";
import type { Problem } from "../problem.js";
import type { Resolution } from "../relation/sources.js";
import type { StoreConfig } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";
import type { DeliveryView, KnownGood, Paused } from "./state.js";

/** Why the sources are read: a reconcile, confirming a checked config, the end of a removal grace. */
export type ReadPurpose = "reconcile" | "confirm" | "removal";

/** The loop's timers; arming one replaces it, leaving its work disarms it. */
export type TimerName = "retry" | "removal" | "uptime" | "proof";

/** Why the sidecar restarted a running agent (crash restarts are the runner's own). */
export type RestartReason = "config" | "rollback";

/** A config to put in front of the agent, and what it becomes once it runs. */
export interface ApplyRequest {
  readonly config: StoreConfig;
  readonly launch: Launch;
  /** Passed its check (or is the last-known-good that did). */
  readonly checked: boolean;
  /** New to the agent: it proves itself with an OK write when metrics are expected. */
  readonly fresh: boolean;
  /** Where a crash loop or a failed proof goes back to. */
  readonly rollbackTo?: StoreConfig;
  /** Why a running agent is restarted for it; undefined: none runs. */
  readonly restart?: RestartReason;
  /** The desired config (held and retried when it fails), the last-known-good or a rollback. */
  readonly why: "desired" | "known-good" | "rollback";
  /** performance.now() of the first file event that led here. */
  readonly eventAt?: number;
}

/**
 * What waits until the last-known-good is written, so that status never shows what was not:
 * an apply that ran (its config becomes the applied one), or an unchecked config that passed
 * its re-check (promoted).
 */
export type AfterPersist =
  | { readonly kind: "apply"; readonly request: ApplyRequest }
  | { readonly kind: "promote"; readonly launch: Launch };

/** How an apply ended: the agent runs it, it could not be applied (and why), or newer work won. */
export type ApplyOutcome =
  | {
      readonly kind: "applied";
      readonly reactionMs?: number;
      /** The agent kept running: the relay switched the store under it, nothing restarted. */
      readonly keptAgent?: boolean;
    }
  | { readonly kind: "aborted" }
  | { readonly kind: "failed"; readonly message: string };

/** What happened: everything the loop learns comes to `transition` as one of these. */
export type LoopEvent =
  /** The sidecar starts: what its state dir kept. */
  | {
      readonly type: "started";
      readonly knownGood?: KnownGood;
      readonly paused?: Paused;
      readonly metricsSeen: boolean;
    }
  /** Read the data again (the quiet period after a file event ended, a rescan, SIGHUP). */
  | { readonly type: "triggered"; readonly eventAt?: number }
  /** A stable read of every source. */
  | {
      readonly type: "read";
      readonly purpose: ReadPurpose;
      readonly resolution: Resolution;
      readonly missing: readonly Problem[];
    }
  /** One read on the first event of a change, while its quiet period runs. */
  | { readonly type: "earlyRead"; readonly resolution: Resolution }
  /**
   * The loop's check of `config` ended: `result` undefined when newer data aborted it.
   * `startedAt`: when it started; `unsettledSince`: the newest file event still in its quiet
   * period; `newerQueued`: a read of newer data waits behind it (all performance.now()).
   */
  | {
      readonly type: "checked";
      readonly config: StoreConfig;
      readonly result?: CheckResult;
      readonly startedAt: number;
      readonly unsettledSince?: number;
      readonly newerQueued: boolean;
    }
  /** The API's CheckStore checked the desired config. */
  | { readonly type: "desiredChecked"; readonly config: StoreConfig; readonly result: CheckResult }
  /** The periodic re-check of the applied config ended. */
  | { readonly type: "appliedChecked"; readonly launch: Launch; readonly result: CheckResult }
  /** The periodic re-check is due. */
  | { readonly type: "recheckDue" }
  | { readonly type: "applyEnded"; readonly request: ApplyRequest; readonly outcome: ApplyOutcome }
  /** The last-known-good was written (`error`: why not); `after`: what waited for it. */
  | { readonly type: "persisted"; readonly error?: string; readonly after?: AfterPersist }
  /** The agent was stopped for good (relation removed, --on-remove stop). */
  | { readonly type: "agentStopped" }
  /** The agent of `launch` exited by itself after `uptimeMs`; its stderr tail scrubbed. */
  | {
      readonly type: "agentExited";
      readonly launch: Launch;
      readonly uptimeMs: number;
      readonly stderrTail: readonly string[];
    }
  /**
   * A timer armed for `launch` fired: the retry, the removal grace, the uptime watch (`upMs`:
   * how long the agent running now has been up, -1 when none runs), the proof deadline.
   */
  | {
      readonly type: "timer";
      readonly timer: TimerName;
      readonly launch?: Launch;
      readonly upMs?: number;
      /** The running agent's last warning or error line, for a rollback's reason. */
      readonly lastWords?: string;
    }
  /** A crash loop found earlier, acted upon in its turn. */
  | {
      readonly type: "crashLoop";
      readonly launch: Launch;
      readonly problem: Problem;
      readonly lastWords?: string;
    }
  /** What the agent's metrics said, for `launch`; `proven`: an OK write was seen. */
  | {
      readonly type: "deliveryObserved";
      readonly launch: Launch;
      readonly view: DeliveryView;
      readonly proven: boolean;
      readonly counted: boolean;
    }
  | { readonly type: "reloaded" }
  /** Paused (already kept in the pause file). */
  | { readonly type: "paused"; readonly paused: Paused }
  | { readonly type: "resumed" }
  | { readonly type: "shutdown" };

/** The event of one type, for the rule that handles it. */
export type EventOf<T extends LoopEvent["type"]> = Extract<LoopEvent, { type: T }>;
