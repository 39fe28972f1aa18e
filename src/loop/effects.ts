import type { Launch } from "../agent/runner.js";
import type { StoreConfig } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";
import type {
  AfterPersist,
  ApplyRequest,
  LoopEvent,
  ReadPurpose,
  RestartReason,
  TimerName,
} from "./events.js";
import type { KnownGood } from "./state.js";

export type LogLevel = "info" | "warn" | "error";

/** What to do: `transition` returns these; the executors carry them out, in order. */
export type Effect =
  /** Read every source until stable (in the loop's turn), then `read`. */
  | { readonly type: "read"; readonly purpose: ReadPurpose }
  /** Check `config` (reusing an early check started at or after `since`), then `checked`. */
  | {
      readonly type: "check";
      readonly config: StoreConfig;
      readonly since?: number;
    }
  /** Start checking `config` now, before the data settles; nothing is reported. */
  | { readonly type: "checkEarly"; readonly config: StoreConfig }
  | { readonly type: "abortCheck" }
  /** Re-check the applied config (outside the loop's turn), then `appliedChecked`. */
  | { readonly type: "recheck"; readonly config: StoreConfig; readonly launch: Launch }
  /** (Re)start the agent with the request's launch, then `applyEnded`. */
  | { readonly type: "apply"; readonly request: ApplyRequest }
  /** Give up on the restart or stop command in flight (its process group is killed). */
  | { readonly type: "abortApply" }
  /** Stop the agent for good and forget the last-known-good, then `agentStopped`. */
  | { readonly type: "stopAgent" }
  /** Write the last-known-good, then `persisted` (carrying `after`). */
  | { readonly type: "persist"; readonly knownGood: KnownGood; readonly after?: AfterPersist }
  | {
      readonly type: "arm";
      readonly timer: TimerName;
      readonly ms: number;
      readonly launch?: Launch;
    }
  /** Arm the retry at backoff step `step` (doubling, capped, jittered). */
  | { readonly type: "armRetry"; readonly step: number }
  | { readonly type: "disarm"; readonly timer: TimerName }
  /** Read the agent's metrics for `launch` (`expected`: they should be there). */
  | { readonly type: "watchDelivery"; readonly launch: Launch; readonly expected: boolean }
  | { readonly type: "unwatchDelivery" }
  /** Remember in the state dir that the agent exported its write counters. */
  | { readonly type: "rememberMetrics" }
  /** Hand `event` to the loop in its turn, after the work queued before it. */
  | { readonly type: "later"; readonly event: LoopEvent }
  /** A token to keep out of every log line and message. */
  | { readonly type: "secret"; readonly token: string | undefined }
  | {
      readonly type: "log";
      readonly level: LogLevel;
      readonly fields: Readonly<Record<string, unknown>>;
      readonly message: string;
    }
  /** For metrics: a check that counts, an apply, a rollback. */
  | { readonly type: "observeCheck"; readonly result: CheckResult }
  | {
      readonly type: "observeApply";
      readonly reactionMs?: number;
      readonly restart?: RestartReason;
    }
  | { readonly type: "observeRollback"; readonly code: string };
