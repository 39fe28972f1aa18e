import type { Logger } from "pino";
import type { StoreConfig } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";
import { CheckGate, type GateResult } from "./check-gate.js";
import type { Checker } from "./checker.js";
import type { LoopMachine } from "./machine.js";
import type { ReconcileObserver } from "./options.js";

/**
 * The loop's store checks and what counts of them: the gate for the loop's own checks, the
 * API's CheckStore (concurrent calls share one run) and the periodic re-check of the applied
 * config. Only checks whose result is recorded reach status and metrics.
 */
export class StoreChecks {
  private readonly gate: CheckGate;
  private apiCheck: Promise<CheckResult | undefined> | undefined;

  private readonly checker: Checker;
  private readonly log: Logger;
  private readonly observe: ((result: CheckResult) => void) | undefined;

  constructor(
    private readonly machine: LoopMachine,
    options: {
      readonly checker: Checker;
      readonly log: Logger;
      readonly observer?: ReconcileObserver;
    },
  ) {
    this.checker = options.checker;
    this.log = options.log;
    this.observe = options.observer?.checked;
    this.gate = new CheckGate(options.checker);
  }

  /** Starts checking `config` early (see CheckGate). */
  prefetch(config: StoreConfig): void {
    this.gate.start(config);
  }

  /** The loop's check of `config`; undefined when newer data aborted it. */
  forLoop(config: StoreConfig, since: number | undefined): Promise<GateResult | undefined> {
    return this.gate.check(config, since);
  }

  abort(): void {
    this.gate.abort();
  }

  /** A check that counts: logged, shown in status as `last_check`, and in metrics. */
  record(config: StoreConfig, result: CheckResult): void {
    const d = result.diagnosis;
    if (result.ok) {
      const stages = result.stages.map((s) => `${s.name} ${s.durationMs.toFixed(1)}`).join(" ");
      this.log.info(
        { event: "check_passed", address: config.address, durationMs: result.durationMs, stages },
        "store check passed",
      );
    } else {
      this.log.warn(
        { event: "check_failed", address: config.address, code: d?.code, hint: d?.hint },
        `store check failed: ${d?.message ?? "unknown"}`,
      );
    }
    this.observe?.(result);
    this.machine.commit({ lastCheck: { config, result } });
  }

  /** Checks the desired config now (API CheckStore); `passed` runs when it passes. */
  desired(passed: () => void): Promise<CheckResult | undefined> {
    this.apiCheck ??= this.desiredOnce(passed).finally(() => {
      this.apiCheck = undefined;
    });
    return this.apiCheck;
  }

  private async desiredOnce(passed: () => void): Promise<CheckResult | undefined> {
    const decision = this.machine.state.resolution?.decision;
    if (decision?.kind !== "configured") return undefined;
    const result = await this.checker.check(decision.config);
    this.record(decision.config, result);
    if (result.ok) passed();
    return result;
  }

  /** Re-checks the applied config into `applied_check`; never restarts, never sets last_check. */
  async recheckApplied(): Promise<void> {
    const applied = this.machine.state.applied;
    if (applied === undefined || this.machine.work.kind === "stopped") return;
    const result = await this.checker.check(applied.config);
    this.observe?.(result);
    if (this.machine.state.applied?.launch === applied.launch)
      this.machine.commit({ appliedCheck: result });
  }
}
