import { type StoreConfig, sameStore } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";
import type { Checker } from "./checker.js";

interface InFlight {
  readonly config: StoreConfig;
  /** performance.now() when the check started. */
  readonly startedAt: number;
  readonly abort: AbortController;
  readonly result: Promise<CheckResult>;
}

/** A check that ran to its end, with when it started. */
export interface GateResult {
  readonly result: CheckResult;
  readonly startedAt: number;
}

/**
 * The loop's store checks: at most one in flight. A check may start early — on the first read of
 * a change, while the quiet period still runs — and is used when the settled data asks for the
 * same config; newer data aborts it. An aborted check's result is never handed out.
 */
export class CheckGate {
  private inFlight: InFlight | undefined;

  constructor(private readonly checker: Checker) {}

  /** Starts checking `config` unless that check already runs; aborts a check of anything else. */
  start(config: StoreConfig): void {
    const current = this.inFlight;
    if (current && sameStore(current.config, config) && !current.abort.signal.aborted) return;
    this.begin(config);
  }

  private begin(config: StoreConfig): void {
    this.abort();
    const abort = new AbortController();
    this.inFlight = {
      config,
      startedAt: performance.now(),
      abort,
      result: this.checker.check(config, abort.signal),
    };
  }

  /**
   * The result of checking `config`: of the check already started for it at or after `since`
   * (performance.now()), else of a new one. Undefined when newer data aborted it.
   */
  async check(config: StoreConfig, since: number | undefined): Promise<GateResult | undefined> {
    const current = this.inFlight;
    const reusable =
      current !== undefined &&
      since !== undefined &&
      current.startedAt >= since &&
      sameStore(current.config, config) &&
      !current.abort.signal.aborted;
    if (!reusable) this.begin(config);
    const run = this.inFlight as InFlight;
    const result = await run.result;
    if (this.inFlight === run) this.inFlight = undefined;
    if (run.abort.signal.aborted) return undefined;
    return { result, startedAt: run.startedAt };
  }

  /** Aborts the check in flight, if any. */
  abort(): void {
    this.inFlight?.abort.abort();
    this.inFlight = undefined;
  }
}
