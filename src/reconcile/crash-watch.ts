import type { Launch, Runner, RunnerEvent } from "../agent/runner.js";
import type { Secrets } from "../log.js";
import type { KnownGoodKeeper } from "./known-good.js";
import type { LoopMachine } from "./machine.js";
import type { Applied } from "./state.js";

/** Rolls back after this many exits, each within --min-uptime-ms of its start. */
const ROLLBACK_AFTER_EARLY_EXITS = 3;

export interface CrashWatchOptions {
  readonly minUptimeMs: number;
  readonly runner: Runner;
  readonly secrets: Secrets;
}

/** Why a config crash-loops, for the rollback. */
export interface CrashLoop {
  readonly launch: Launch;
  readonly message: string;
  readonly hint: string;
}

/**
 * Watches the applied launch's agent: one process that stays up --min-uptime-ms without an exit
 * proves the config (its rollback target is dropped); three exits sooner make it a crash loop,
 * handed to `crashLoop` while a rollback target is kept.
 */
export class CrashWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly machine: LoopMachine,
    private readonly known: KnownGoodKeeper,
    private readonly options: CrashWatchOptions,
    /** Runs work in the loop's queue. */
    private readonly enqueue: (work: () => Promise<void>) => Promise<void>,
    private readonly crashLoop: (loop: CrashLoop) => Promise<void>,
  ) {
    this.unsubscribe = options.runner.subscribe((event) => this.onRunnerEvent(event));
  }

  /**
   * Once one agent process of the launch has stayed up --min-uptime-ms without an exit, its
   * rollback target is dropped. An agent that crashes and is restarted in between does not
   * count: the timer looks again when the process running then would have stayed up that long.
   */
  watch(launch: Launch, inMs = this.options.minUptimeMs): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.enqueue(async () => {
        const applied = this.machine.state.applied;
        if (applied?.launch !== launch) return;
        const agent = this.options.runner.snapshot();
        const upMs = agent.running && agent.startedAt ? Date.now() - agent.startedAt.getTime() : -1;
        const { minUptimeMs } = this.options;
        if (upMs < minUptimeMs)
          return this.watch(launch, upMs < 0 ? minUptimeMs : minUptimeMs - upMs);
        // A pending config keeps its rollback target until an OK write proved it.
        const target = applied.pending ? undefined : applied.rollbackTo;
        this.machine.commit({
          applied: {
            ...applied,
            ...(applied.pending ? {} : { rollbackTo: undefined }),
            earlyExits: 0,
            stayedUp: true,
          },
        });
        if (target !== undefined && applied.checked) {
          const stateError = await this.known.remember(applied.config, undefined);
          this.machine.commit({ stateError });
        }
      });
    }, inMs);
  }

  /** Stops watching (the agent is stopped for good). */
  cancel(): void {
    clearTimeout(this.timer);
  }

  close(): void {
    this.cancel();
    this.unsubscribe();
  }

  private onRunnerEvent(event: RunnerEvent): void {
    const applied = this.machine.state.applied;
    if (
      event.type !== "exit" ||
      applied?.launch !== event.launch ||
      event.uptimeMs >= this.options.minUptimeMs
    ) {
      this.machine.commit({});
      return;
    }
    const counted: Applied = { ...applied, earlyExits: applied.earlyExits + 1 };
    this.machine.commit({ applied: counted });
    if (counted.earlyExits < ROLLBACK_AFTER_EARLY_EXITS || !counted.rollbackTo) return;
    const stderr = event.exit.stderrTail.slice(-3).join(" | ");
    const last = stderr ? ` (last stderr: ${this.options.secrets.scrub(stderr)})` : "";
    void this.enqueue(() =>
      this.crashLoop({
        launch: counted.launch,
        message: `${counted.config.address} exited ${counted.earlyExits} times within ${this.options.minUptimeMs} ms of starting${last}`,
        hint: "the agent's last stderr lines say why; fix the store or the agent's flags, then change the relation data or reload (SIGHUP)",
      }),
    );
  }
}
