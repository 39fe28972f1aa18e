import type { Logger } from "pino";
import { type Backoff, RetryTimer } from "../core/backoff.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import type { LoopMachine } from "./machine.js";

/**
 * A config held after its check failed or it could not be applied, and its retry: one backoff
 * timer (reset by a success, a newer config or a reload), cancelled when the loop leaves "held".
 */
export class HeldRetry {
  private readonly timer: RetryTimer;

  constructor(
    private readonly machine: LoopMachine,
    backoff: Backoff,
    private readonly log: Logger,
    /** Runs when the backoff is over (in the loop's queue). */
    private readonly retry: () => void,
  ) {
    this.timer = new RetryTimer(backoff);
    machine.onExit("held", () => this.timer.cancel());
  }

  /** Holds `config` and retries it after the next backoff delay. */
  hold(config: StoreConfig, why: "check" | "apply", message: string): void {
    this.machine.commit({ work: { kind: "held", config, why, message } });
    const inMs = this.timer.schedule(this.retry);
    this.log.info({ event: "check_retry", inMs }, "retrying the check after a backoff");
  }

  /** `config` is held and its retry is still waiting: events do not check it again. */
  awaits(config: StoreConfig): boolean {
    const { work } = this.machine.state;
    return work.kind === "held" && sameStore(work.config, config) && this.timer.pending;
  }

  /** A retry is waiting (whatever is held). */
  get pending(): boolean {
    return this.timer.pending;
  }

  /** The next hold starts from the first delay again. */
  reset(): void {
    this.timer.reset();
  }

  cancel(): void {
    this.timer.cancel();
  }
}
