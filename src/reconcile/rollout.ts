import type { Logger } from "pino";
import { type RenderOptions, renderFlags } from "../agent/flags.js";
import type { Launch, Runner, RunnerEvent } from "../agent/runner.js";
import type { Secrets } from "../log.js";
import type { StoreConfig } from "../relation/types.js";
import type { KnownGoodKeeper } from "./known-good.js";
import type { LoopMachine } from "./machine.js";
import type { Applied } from "./state.js";

export interface RolloutOptions {
  readonly baseArgs: readonly string[];
  readonly render: RenderOptions;
  readonly minUptimeMs: number;
  readonly runner: Runner;
  readonly log: Logger;
  readonly secrets: Secrets;
  /** A config was applied; `reactionMs` from the first file event that led to it, if any. */
  readonly applied?: (reactionMs: number | undefined) => void;
}

export interface ApplyRequest {
  /** Passed its check (or is the last-known-good that did): it becomes the last-known-good. */
  readonly checked: boolean;
  /** Where to go back to if it crash-loops; default: what runs now, else the last-known-good. */
  readonly rollbackTo?: StoreConfig | undefined;
  /** performance.now() of the first file event that led here. */
  readonly eventAt?: number | undefined;
}

/** Rolls back after this many exits, each within --min-uptime-ms of its start. */
const ROLLBACK_AFTER_EARLY_EXITS = 3;

/**
 * Puts configs in front of the agent: renders the launch, applies it through the Runner, keeps
 * the last-known-good and the rollback target, and rolls back a config that crash-loops.
 */
export class Rollout {
  private uptimeTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly machine: LoopMachine,
    private readonly known: KnownGoodKeeper,
    private readonly options: RolloutOptions,
    /** Runs work in the loop's queue. */
    private readonly enqueue: (work: () => Promise<void>) => Promise<void>,
  ) {
    this.unsubscribe = options.runner.subscribe((event) => this.onRunnerEvent(event));
  }

  launchFor(config: StoreConfig): Launch {
    const rendered = renderFlags(this.options.baseArgs, config, this.options.render);
    return {
      store: config,
      argv: rendered.argv,
      unsetEnv: rendered.unsetEnv,
      ...(rendered.tokenFile ? { tokenFile: rendered.tokenFile } : {}),
    };
  }

  /** The no-op rule: the same rendered argv and the same token as the applied config. */
  isApplied(config: StoreConfig): boolean {
    const applied = this.machine.state.applied;
    if (applied === undefined || applied.config.token !== config.token) return false;
    const argv = this.launchFor(config).argv;
    const running = applied.launch.argv;
    return running.length === argv.length && running.every((arg, i) => arg === argv[i]);
  }

  /**
   * Runs the agent with `config`. A checked config becomes the last-known-good, with the one
   * before it kept as the rollback target until the new one has run --min-uptime-ms. Resolves
   * with why it could not be applied (the agent then runs as it did), or undefined.
   */
  async apply(config: StoreConfig, request: ApplyRequest): Promise<string | undefined> {
    const { checked, eventAt } = request;
    const launch = this.launchFor(config);
    const running = this.machine.state.applied;
    const target = this.known.rollbackTarget(
      config,
      request.rollbackTo,
      running?.checked ? running.config : undefined,
    );
    try {
      await this.options.runner.apply(launch);
    } catch (err) {
      const message = this.options.secrets.scrub((err as Error).message);
      this.options.log.error(
        { event: "apply_failed", address: config.address, error: message },
        "cannot apply the config; the agent keeps running as it was",
      );
      return message;
    }
    this.options.applied?.(eventAt === undefined ? undefined : performance.now() - eventAt);
    // Persisted before status can show it as running: what status says has been written.
    const stateError = checked ? await this.known.remember(config, target) : undefined;
    const applied: Applied = {
      config,
      launch,
      checked,
      earlyExits: 0,
      ...(target ? { rollbackTo: target } : {}),
    };
    this.machine.commit({ applied, ...(checked ? { stateError } : {}), work: { kind: "idle" } });
    this.options.log.info(
      { event: "config_applied", address: config.address, insecure: config.insecure, checked },
      checked ? "config applied" : "config applied although its check failed (--unverified apply)",
    );
    this.watchUptime(launch);
    return undefined;
  }

  /** Starts the persisted last-known-good, if any, without waiting for the store. */
  async startKnownGood(): Promise<void> {
    const known = await this.known.load();
    if (known === undefined) return;
    this.options.secrets.add(known.current.token);
    this.options.secrets.add(known.previous?.token);
    this.options.log.info(
      { event: "known_good_started", address: known.current.address },
      "starting the last-known-good config without waiting for the store",
    );
    await this.apply(known.current, { checked: true, rollbackTo: known.previous });
  }

  /** Stops the agent for good: nothing applied, no last-known-good. */
  async remove(): Promise<void> {
    clearTimeout(this.uptimeTimer);
    await this.options.runner.stop();
    this.machine.commit({ applied: undefined, appliedCheck: undefined });
    await this.known.forget();
  }

  close(): void {
    clearTimeout(this.uptimeTimer);
    this.unsubscribe();
  }

  /** Once the launch has run --min-uptime-ms, its rollback target is dropped. */
  private watchUptime(launch: Launch): void {
    clearTimeout(this.uptimeTimer);
    this.uptimeTimer = setTimeout(() => {
      void this.enqueue(async () => {
        const applied = this.machine.state.applied;
        if (applied?.launch !== launch || !this.options.runner.snapshot().running) return;
        const target = applied.rollbackTo;
        this.machine.commit({
          applied: { ...applied, rollbackTo: undefined, earlyExits: 0, stayedUp: true },
        });
        if (target !== undefined && applied.checked) {
          const stateError = await this.known.remember(applied.config, undefined);
          this.machine.commit({ stateError });
        }
      });
    }, this.options.minUptimeMs);
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
    if (counted.earlyExits >= ROLLBACK_AFTER_EARLY_EXITS && counted.rollbackTo) {
      const stderr = event.exit.stderrTail.slice(-3).join(" | ");
      void this.enqueue(() => this.rollback(counted.launch, stderr));
    }
  }

  private async rollback(launch: Launch, stderr: string): Promise<void> {
    const applied = this.machine.state.applied;
    const target = applied?.rollbackTo;
    if (applied?.launch !== launch || target === undefined) return;
    const last = stderr ? ` (last stderr: ${this.options.secrets.scrub(stderr)})` : "";
    const reason = `${applied.config.address} exited ${applied.earlyExits} times within ${this.options.minUptimeMs} ms of starting${last}`;
    this.machine.commit({ rejected: { config: applied.config, reason } });
    this.options.log.error(
      { event: "rollback", from: applied.config.address, to: target.address },
      `rolling back: ${reason}`,
    );
    await this.apply(target, { checked: true });
    const now = this.machine.state.applied;
    if (now && now.rollbackTo !== undefined)
      this.machine.commit({ applied: { ...now, rollbackTo: undefined } });
    this.machine.commit({ stateError: await this.known.remember(target, undefined) });
  }
}
