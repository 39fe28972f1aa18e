import type { Logger } from "pino";
import { type RenderOptions, renderFlags } from "../agent/flags.js";
import type { Launch, Runner } from "../agent/runner.js";
import type { Secrets } from "../log.js";
import type { StoreConfig } from "../relation/types.js";
import { CrashWatch } from "./crash-watch.js";
import type { DeliveryGuard, Verdict } from "./delivery-guard.js";
import type { KnownGoodKeeper } from "./known-good.js";
import type { LoopMachine } from "./machine.js";
import type { ReconcileObserver, RestartReason } from "./options.js";
import type { Applied } from "./state.js";

export interface RolloutOptions {
  readonly baseArgs: readonly string[];
  readonly render: RenderOptions;
  readonly minUptimeMs: number;
  readonly runner: Runner;
  readonly log: Logger;
  readonly secrets: Secrets;
  /** Told of every apply and rollback, for metrics. */
  readonly observer?: Pick<ReconcileObserver, "applied" | "rolledBack">;
}

export interface ApplyRequest {
  /** Passed its check (or is the last-known-good that did): it becomes the last-known-good. */
  readonly checked: boolean;
  /** Where to go back to if it crash-loops; default: what runs now, else the last-known-good. */
  readonly rollbackTo?: StoreConfig | undefined;
  /** performance.now() of the first file event that led here. */
  readonly eventAt?: number | undefined;
  /**
   * A config new to the agent, which must prove itself with an OK write when the agent's
   * metrics are expected (default). Not for the last-known-good or a rollback target.
   */
  readonly fresh?: boolean;
  /** Why a running agent is restarted for it, when one runs: a new config by default. */
  readonly restart?: RestartReason;
}

/** Work that `abort()` gave up on. */
class Aborted extends Error {
  override readonly name = "Aborted";
}

/** How an apply ended: the agent runs it, it could not be applied (and why), or newer work won. */
export type ApplyOutcome = "applied" | "aborted" | { readonly failed: string };

/** Why a config was rolled back, as status shows it. */
interface Reason {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
}

/**
 * Puts configs in front of the agent: renders the launch, applies it through the Runner, keeps
 * the last-known-good and the rollback target, and rolls back a config that crash-loops or that
 * the agent's own writes do not prove (the DeliveryGuard's verdict).
 */
export class Rollout {
  private readonly crashes: CrashWatch;
  /** Gives up on the apply or stop in flight (a restart or stop command, external mode). */
  private inflight: AbortController | undefined;

  constructor(
    private readonly machine: LoopMachine,
    private readonly known: KnownGoodKeeper,
    private readonly options: RolloutOptions,
    /** Runs work in the loop's queue. */
    enqueue: (work: () => Promise<void>) => Promise<void>,
    private readonly delivery: DeliveryGuard,
  ) {
    this.crashes = new CrashWatch(machine, known, options, enqueue, (loop) =>
      this.rollback(loop.launch, {
        code: "AGENT_CRASH_LOOP",
        message: loop.message,
        hint: loop.hint,
      }),
    );
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
   * before it kept as the rollback target until the new one has run --min-uptime-ms. When it
   * cannot be applied (or `abort()` gave up on it), the agent counts as running what it ran
   * before and nothing is persisted.
   */
  async apply(config: StoreConfig, request: ApplyRequest): Promise<ApplyOutcome> {
    const { checked, eventAt } = request;
    const launch = this.launchFor(config);
    const running = this.machine.state.applied;
    const target = this.known.rollbackTarget(
      config,
      request.rollbackTo,
      running?.checked ? running.config : undefined,
    );
    // An agent with another config in front of it (running, or waiting out a crash backoff).
    const restart = running === undefined ? undefined : (request.restart ?? "config");
    try {
      await this.abortable((signal) => this.options.runner.apply(launch, signal));
    } catch (err) {
      if (err instanceof Aborted) return "aborted";
      const message = this.options.secrets.scrub((err as Error).message);
      this.options.log.error(
        { event: "apply_failed", address: config.address, error: message },
        "cannot apply the config; the agent keeps running as it was",
      );
      return { failed: message };
    }
    const reactionMs = eventAt === undefined ? undefined : performance.now() - eventAt;
    this.options.observer?.applied(reactionMs, restart);
    const pending = checked && request.fresh !== false && this.delivery.expectsProof();
    // Persisted before status can show it as running: what status says has been written. A
    // pending config is persisted once an OK write of the agent proved it.
    const stateError = checked && !pending ? await this.known.remember(config, target) : undefined;
    const applied: Applied = {
      config,
      launch,
      checked,
      earlyExits: 0,
      ...(target ? { rollbackTo: target } : {}),
      ...(pending ? { pending } : {}),
    };
    this.machine.commit({ applied, ...(checked ? { stateError } : {}), work: { kind: "idle" } });
    this.options.log.info(
      { event: "config_applied", address: config.address, insecure: config.insecure, checked },
      checked ? "config applied" : "config applied although its check failed (--unverified apply)",
    );
    this.delivery.begin(launch, { pending });
    this.crashes.watch(launch);
    return "applied";
  }

  /** Gives up on the apply or stop in flight: its command's process group is killed. */
  abort(): void {
    this.inflight?.abort();
  }

  /** The delivery guard's verdict on a pending config: promote it, or roll it back. */
  async settle(launch: Launch, verdict: Verdict): Promise<void> {
    const applied = this.machine.state.applied;
    if (applied?.launch !== launch || !applied.pending) return;
    if (verdict.kind !== "failed") {
      this.machine.commit({ applied: { ...applied, pending: false } });
      const event = verdict.kind === "proven" ? "delivery_proven" : "delivery_unknown";
      this.options.log.info(
        { event, address: applied.config.address },
        verdict.kind === "proven"
          ? "the agent's writes reach the store: the config is the last-known-good"
          : "no agent metrics to prove the config by: it is the last-known-good",
      );
      const stateError = await this.known.remember(applied.config, applied.rollbackTo);
      this.machine.commit({ stateError });
      return;
    }
    if (applied.rollbackTo === undefined) {
      // Nothing to go back to: the agent is left running, reported, never restarted for it.
      this.machine.commit({ applied: { ...applied, pending: false } });
      return;
    }
    const p = verdict.problem;
    await this.rollback(launch, { code: p.code, message: p.message, hint: p.hint });
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
    await this.apply(known.current, { checked: true, rollbackTo: known.previous, fresh: false });
  }

  /** Stops the agent for good: nothing applied, no last-known-good. */
  async remove(): Promise<void> {
    await this.stopAgent();
    this.machine.commit({ applied: undefined, appliedCheck: undefined });
    await this.known.forget();
  }

  /**
   * Stops the agent for good (external mode: the stop command, given up on by `abort()`); the
   * runner removes the token file it read.
   */
  async stopAgent(): Promise<void> {
    this.crashes.cancel();
    await this.abortable((signal) => this.options.runner.stop(signal));
  }

  /** Runs `work` as the one abort() gives up on; a failure after an abort is Aborted. */
  private async abortable(work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const inflight = new AbortController();
    this.inflight = inflight;
    try {
      await work(inflight.signal);
    } catch (err) {
      throw inflight.signal.aborted ? new Aborted("given up on by abort()", { cause: err }) : err;
    } finally {
      if (this.inflight === inflight) this.inflight = undefined;
    }
  }

  close(): void {
    this.crashes.close();
  }

  private async rollback(launch: Launch, why: Reason): Promise<void> {
    const applied = this.machine.state.applied;
    const target = applied?.rollbackTo;
    if (applied?.launch !== launch || target === undefined) return;
    // The agent's own words say why better than any guess: kept with the rejection.
    const words = this.options.runner.snapshot().lastWords;
    const reason = words ? `${why.message}; the agent said: ${words}` : why.message;
    this.machine.commit({
      rejected: { config: applied.config, code: why.code, reason, hint: why.hint },
    });
    this.options.log.error(
      { event: "rollback", from: applied.config.address, to: target.address, code: why.code },
      `rolling back: ${why.message}`,
    );
    this.options.observer?.rolledBack(why.code);
    const outcome = await this.apply(target, { checked: true, fresh: false, restart: "rollback" });
    if (outcome !== "applied") return;
    const now = this.machine.state.applied;
    if (now && now.rollbackTo !== undefined)
      this.machine.commit({ applied: { ...now, rollbackTo: undefined } });
    this.machine.commit({ stateError: await this.known.remember(target, undefined) });
  }
}
