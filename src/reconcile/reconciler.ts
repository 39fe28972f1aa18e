import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { type RenderOptions, renderFlags } from "../agent/flags.js";
import { type Launch, type Runner, type RunnerEvent, SerialQueue } from "../agent/runner.js";
import { type Backoff, backoffDelay } from "../agent/supervisor.js";
import type { Secrets } from "../log.js";
import { type Problem, problem } from "../problem.js";
import { type Resolution, resolveSources } from "../relation/sources.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";
import type { Checker } from "./checker.js";
import type { KnownGood, StateFile } from "./state-file.js";

export type Unverified = "hold" | "apply";
export type OnRemove = "stop" | "keep";

/** What the loop reports for metrics. */
export interface ReconcileObserver {
  /** A config was applied; `reactionMs` from the first file event that led to it, if any. */
  applied(checked: boolean, reactionMs: number | undefined): void;
}

export interface ReconcilerOptions {
  readonly paths: readonly string[];
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
  readonly state: StateFile;
  readonly log: Logger;
  readonly secrets: Secrets;
  readonly observer?: ReconcileObserver;
  /** When the last file event still waiting out its quiet period happened (performance.now()). */
  readonly unsettledSince?: () => number | undefined;
}

/** The config the agent runs with, and how it got there. */
export interface Applied {
  readonly config: StoreConfig;
  readonly launch: Launch;
  /** Passed its check (or is the last-known-good that did). */
  checked: boolean;
  readonly at: number;
  /** Exits before --min-uptime-ms since it was applied. */
  earlyExits: number;
  /** Where to go back to if it crash-loops; dropped once it has run --min-uptime-ms. */
  rollbackTo: StoreConfig | undefined;
}

/** A config that crash-looped and was rolled back; stays rejected until the data changes. */
export interface Rejected {
  readonly config: StoreConfig;
  readonly reason: string;
}

const MAX_STABLE_READS = 10;
const ROLLBACK_AFTER_EARLY_EXITS = 3;

/** `dns 0.2 tcp 0.4 …` in ms, for the log. */
function stageTimes(result: CheckResult): string {
  return result.stages.map((s) => `${s.name} ${s.durationMs.toFixed(1)}`).join(" ");
}

function sameResolution(a: Resolution, b: Resolution): boolean {
  const key = (r: Resolution) =>
    JSON.stringify([
      r.decision.kind === "error" ? r.decision.error.toProblem() : r.decision,
      r.sources,
    ]);
  return key(a) === key(b);
}

/**
 * The sidecar's loop: from relation data to a running agent. One reconcile runs at a time; a
 * trigger while one runs makes exactly one more. State lives here and only here; status is
 * derived from it.
 */
export class Reconciler {
  resolution: Resolution | undefined;
  applied: Applied | undefined;
  rejected: Rejected | undefined;
  lastCheck: CheckResult | undefined;
  /** The config `lastCheck` is about. */
  private lastChecked: StoreConfig | undefined;
  appliedCheck: CheckResult | undefined;
  checking = false;
  stopped = false;
  /** A config that passed its check but could not be applied (e.g. its token file). */
  applyError: { readonly config: StoreConfig; readonly message: string } | undefined;
  /** Why the last-known-good could not be persisted, until it can. */
  stateError: string | undefined;
  /** Set while a removed relation's grace period runs. */
  removing = false;
  private knownGood: KnownGood | undefined;
  private readonly queue = new SerialQueue();
  private pending: Promise<void> | undefined;
  private retryAttempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private removeTimer: NodeJS.Timeout | undefined;
  private uptimeTimer: NodeJS.Timeout | undefined;
  private checkInFlight: Promise<CheckResult | undefined> | undefined;
  /** When the first file event not yet acted upon happened (performance.now()). */
  private eventAt: number | undefined;
  private readonly missingAtStart = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ReconcilerOptions) {
    for (const path of options.paths) if (!existsSync(path)) this.missingAtStart.add(path);
    this.unsubscribe = options.runner.subscribe((event) => this.onRunnerEvent(event));
  }

  /** Called on every change of state; status and readiness are derived from it. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** SOURCE_MISSING for paths missing at start that have not appeared since. */
  missingSources(): Problem[] {
    return [...this.missingAtStart].map((path) =>
      problem(
        "SOURCE_MISSING",
        `relation source ${path} does not exist`,
        "check the --relation path (and the volume or hook that writes it); the sidecar waits for it to appear",
        path,
      ),
    );
  }

  /** Starts the persisted last-known-good at once, without waiting for the store, then reconciles. */
  async start(): Promise<void> {
    for (const p of this.missingSources())
      this.options.log.warn({ event: "source_missing", path: p.path }, p.message);
    const known = await this.options.state.load();
    if (known) {
      this.knownGood = known;
      this.options.secrets.add(known.current.token);
      this.options.secrets.add(known.previous?.token);
      this.options.log.info(
        { event: "known_good_started", address: known.current.address },
        "starting the last-known-good config without waiting for the store",
      );
      await this.enqueue(() => this.apply(known.current, true, known.previous));
    }
    await this.trigger();
  }

  /**
   * Re-reads the sources and reconciles; coalesced with any reconcile not yet started.
   * `eventAt` (performance.now()) is when a file event started this, for the reaction time.
   */
  trigger(eventAt?: number): Promise<void> {
    if (eventAt !== undefined) this.eventAt ??= eventAt;
    if (this.pending) return this.pending;
    const run = this.enqueue(async () => {
      this.pending = undefined;
      await this.reconcile();
    });
    this.pending = run;
    return run;
  }

  /** Reload (SIGHUP, API): forget a rejection and reconcile again. */
  reload(): Promise<void> {
    this.rejected = undefined;
    this.retryAttempt = 0;
    this.options.log.info({ event: "reload" }, "reloading relation data");
    return this.trigger();
  }

  /** Checks the current desired config now (API CheckStore); concurrent calls share one run. */
  checkDesired(): Promise<CheckResult | undefined> {
    if (this.checkInFlight) return this.checkInFlight;
    const run = this.checkDesiredOnce().finally(() => {
      this.checkInFlight = undefined;
    });
    this.checkInFlight = run;
    return run;
  }

  private async checkDesiredOnce(): Promise<CheckResult | undefined> {
    const decision = this.resolution?.decision;
    if (decision?.kind !== "configured") return undefined;
    const result = await this.options.checker.check(decision.config);
    this.lastCheck = result;
    this.lastChecked = decision.config;
    this.changed();
    if (result.ok) void this.trigger();
    return result;
  }

  /** Periodic re-check of the applied store, for status only: never restarts, never touches lastCheck. */
  async recheckApplied(): Promise<void> {
    const applied = this.applied;
    if (applied === undefined || this.stopped) return;
    const result = await this.options.checker.check(applied.config);
    if (this.applied?.config === applied.config) {
      this.appliedCheck = result;
      this.changed();
    }
  }

  async shutdown(stopAgent: boolean): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.removeTimer);
    clearTimeout(this.uptimeTimer);
    this.changed();
    await this.queue.drained();
    this.unsubscribe();
    if (stopAgent) await this.options.runner.stop();
    this.changed();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    return this.queue.run(async () => {
      if (this.stopped) return;
      try {
        await work();
      } catch (err) {
        this.options.log.error(
          { event: "reconcile_failed", error: (err as Error).message },
          "reconcile failed",
        );
      }
    });
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Reads every source until two consecutive reads agree (a writer may be mid-way). */
  private async readStable(): Promise<Resolution> {
    let previous = await resolveSources(this.options.paths);
    for (let i = 0; i < MAX_STABLE_READS; i++) {
      const next = await resolveSources(this.options.paths);
      if (sameResolution(previous, next)) return next;
      previous = next;
    }
    return previous;
  }

  private launchFor(config: StoreConfig): Launch {
    const rendered = renderFlags(this.options.baseArgs, config, this.options.render);
    return {
      store: config,
      argv: rendered.argv,
      unsetEnv: rendered.unsetEnv,
      ...(rendered.tokenFile ? { tokenFile: rendered.tokenFile } : {}),
    };
  }

  private isApplied(config: StoreConfig, launch: Launch): boolean {
    const applied = this.applied;
    return (
      applied !== undefined &&
      applied.config.token === config.token &&
      applied.launch.argv.length === launch.argv.length &&
      applied.launch.argv.every((arg, i) => arg === launch.argv[i])
    );
  }

  private async reconcile(): Promise<void> {
    const eventAt = this.eventAt;
    this.eventAt = undefined;
    const resolution = await this.readStable();
    // Set again below if this config gets checked; left over from a check overtaken by new data.
    this.checking = false;
    const before = this.resolution;
    this.resolution = resolution;
    for (const path of this.missingAtStart) if (existsSync(path)) this.missingAtStart.delete(path);
    const { decision } = resolution;
    if (decision.kind !== "unconfigured") this.cancelRemove();
    if (decision.kind === "error") {
      if (!before || !sameResolution(before, resolution)) {
        const e = decision.error;
        this.options.log.warn(
          { event: "relation_invalid", code: e.code, path: e.path, hint: e.hint },
          e.message,
        );
      }
      this.changed();
      return;
    }
    if (decision.kind === "unconfigured") {
      this.onUnconfigured();
      this.changed();
      return;
    }
    const { config } = decision;
    this.options.secrets.add(config.token);
    if (this.rejected) {
      if (sameStore(this.rejected.config, config)) {
        this.changed();
        return;
      }
      this.rejected = undefined;
    }
    const launch = this.launchFor(config);
    if (this.isApplied(config, launch)) {
      // Nothing changed for the agent. A config applied unverified keeps being re-checked.
      if (this.applied?.checked) this.cancelRetry();
      else if (this.retryTimer === undefined) await this.verifyApplied();
      this.changed();
      return;
    }
    // A config that failed its check is retried by the backoff timer, not by every event.
    if (this.retryTimer !== undefined && this.lastChecked && sameStore(this.lastChecked, config)) {
      this.changed();
      return;
    }
    await this.checkAndApply(config, eventAt);
  }

  private async checkAndApply(config: StoreConfig, eventAt?: number): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.checking = true;
    this.changed();
    const checkStartedAt = performance.now();
    let result: CheckResult;
    try {
      result = await this.options.checker.check(config);
    } catch (err) {
      this.checking = false;
      throw err;
    }
    // Still "checking" while a passed config is being applied: status never shows it held.
    if (!result.ok) this.checking = false;
    this.lastCheck = result;
    this.lastChecked = config;
    // The files changed again during the check and have not been quiet for --debounce-ms since:
    // the watcher reconciles once they are. Acting now would restart the agent (or report a
    // failure) for data already being replaced. Still "checking": the newer data is next.
    if ((this.options.unsettledSince?.() ?? -1) >= checkStartedAt) {
      if (eventAt !== undefined) this.eventAt ??= eventAt;
      return;
    }
    // A newer config supersedes this one: let the next reconcile deal with it. Without a
    // reconcile queued during the check (file event, rescan, reload), the data read before stands.
    const now = this.pending === undefined ? undefined : await this.readStable();
    if (now && (now.decision.kind !== "configured" || !sameStore(now.decision.config, config))) {
      if (eventAt !== undefined) this.eventAt ??= eventAt;
      this.checking = false;
      this.resolution = now;
      this.changed();
      void this.trigger();
      return;
    }
    if (result.ok) {
      this.retryAttempt = 0;
      this.options.log.info(
        {
          event: "check_passed",
          address: config.address,
          durationMs: result.durationMs,
          stages: stageTimes(result),
        },
        "store check passed",
      );
      try {
        await this.apply(config, true, undefined, eventAt);
      } finally {
        this.checking = false;
        this.changed();
      }
      return;
    }
    const d = result.diagnosis;
    this.options.log.warn(
      { event: "check_failed", address: config.address, code: d?.code, hint: d?.hint },
      `store check failed: ${d?.message ?? "unknown"}`,
    );
    if (this.options.unverified === "apply") await this.apply(config, false, undefined, eventAt);
    this.scheduleRetry();
    this.changed();
  }

  /** The applied config failed its check (--unverified apply): check again; promote it if it passes. */
  private async verifyApplied(): Promise<void> {
    const applied = this.applied;
    if (applied === undefined || applied.checked) return;
    this.checking = true;
    this.changed();
    try {
      this.lastCheck = await this.options.checker.check(applied.config);
      this.lastChecked = applied.config;
    } finally {
      this.checking = false;
    }
    if (this.applied !== applied) return;
    if (this.lastCheck.ok) {
      await this.remember(applied.config, applied.rollbackTo);
      applied.checked = true;
      this.retryAttempt = 0;
      this.options.log.info(
        { event: "check_passed", address: applied.config.address },
        "the running config now passes its check",
      );
    } else {
      this.scheduleRetry();
    }
    this.changed();
  }

  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    const delayMs = backoffDelay(this.retryAttempt++, this.options.retry);
    this.options.log.info(
      { event: "check_retry", inMs: delayMs },
      "retrying the check after a backoff",
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.enqueue(async () => {
        const decision = this.resolution?.decision;
        if (decision?.kind !== "configured") return;
        const launch = this.launchFor(decision.config);
        if (this.isApplied(decision.config, launch)) await this.verifyApplied();
        else if (!this.rejected || !sameStore(this.rejected.config, decision.config)) {
          await this.checkAndApply(decision.config);
        }
      });
    }, delayMs);
  }

  private cancelRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryAttempt = 0;
  }

  private async remember(current: StoreConfig, previous: StoreConfig | undefined): Promise<void> {
    const state: KnownGood = {
      current,
      ...(previous && !sameStore(previous, current) ? { previous } : {}),
      appliedAt: new Date().toISOString(),
    };
    this.knownGood = state;
    try {
      await this.options.state.save(state);
      this.stateError = undefined;
    } catch (err) {
      this.stateError = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.options.log.error(
        {
          event: "state_write_failed",
          path: this.options.state.path,
          error: (err as Error).message,
        },
        "cannot persist the last-known-good config; the agent keeps running",
      );
    }
  }

  /**
   * Runs the agent with a config. A checked config becomes the last-known-good, with the one
   * before it kept as the rollback target until the new one has run --min-uptime-ms.
   */
  private async apply(
    config: StoreConfig,
    checked: boolean,
    rollbackTo?: StoreConfig,
    eventAt?: number,
  ): Promise<void> {
    const launch = this.launchFor(config);
    const previous =
      rollbackTo ?? (this.applied?.checked ? this.applied.config : this.knownGood?.current);
    const target = previous && !sameStore(previous, config) ? previous : undefined;
    try {
      await this.options.runner.apply(launch);
    } catch (err) {
      const message = this.options.secrets.scrub((err as Error).message);
      this.applyError = { config, message };
      this.options.log.error(
        { event: "apply_failed", address: config.address, error: message },
        "cannot apply the config; the agent keeps running as it was",
      );
      this.scheduleRetry();
      this.changed();
      return;
    }
    this.applyError = undefined;
    this.options.observer?.applied(
      checked,
      eventAt === undefined ? undefined : performance.now() - eventAt,
    );
    // Persisted before status can show it as running: what status says has been written.
    if (checked) await this.remember(config, target);
    this.applied = { config, launch, checked, at: Date.now(), earlyExits: 0, rollbackTo: target };
    this.removing = false;
    this.options.log.info(
      { event: "config_applied", address: config.address, insecure: config.insecure, checked },
      checked ? "config applied" : "config applied although its check failed (--unverified apply)",
    );
    clearTimeout(this.uptimeTimer);
    const applied = this.applied;
    this.uptimeTimer = setTimeout(() => {
      void this.enqueue(async () => {
        if (
          this.applied !== applied ||
          !this.options.runner.snapshot().running ||
          applied.rollbackTo === undefined
        )
          return;
        applied.rollbackTo = undefined;
        applied.earlyExits = 0;
        if (applied.checked) await this.remember(applied.config, undefined);
      });
    }, this.options.minUptimeMs);
    this.changed();
  }

  private onRunnerEvent(event: RunnerEvent): void {
    if (event.type === "exit") {
      const applied = this.applied;
      if (applied && event.launch === applied.launch && event.uptimeMs < this.options.minUptimeMs) {
        applied.earlyExits++;
        if (applied.earlyExits >= ROLLBACK_AFTER_EARLY_EXITS && applied.rollbackTo) {
          const stderr = event.exit.stderrTail.slice(-3).join(" | ");
          void this.enqueue(() => this.rollback(applied, stderr));
        }
      }
    }
    this.changed();
  }

  private async rollback(applied: Applied, stderr: string): Promise<void> {
    const target = applied.rollbackTo;
    if (this.applied !== applied || target === undefined) return;
    const reason = `${applied.config.address} exited ${applied.earlyExits} times within ${this.options.minUptimeMs} ms of starting${stderr ? ` (last stderr: ${this.options.secrets.scrub(stderr)})` : ""}`;
    this.rejected = { config: applied.config, reason };
    this.options.log.error(
      { event: "rollback", from: applied.config.address, to: target.address },
      `rolling back: ${reason}`,
    );
    await this.apply(target, true, undefined);
    if (this.applied) this.applied.rollbackTo = undefined;
    await this.remember(target, undefined);
  }

  private onUnconfigured(): void {
    if (this.applied === undefined || this.removeTimer !== undefined) return;
    this.removing = true;
    this.options.log.info(
      { event: "relation_removed", graceMs: this.options.removeGraceMs },
      "no store configured any more; waiting for the grace period",
    );
    this.removeTimer = setTimeout(() => {
      this.removeTimer = undefined;
      void this.enqueue(async () => {
        const now = await this.readStable();
        this.resolution = now;
        if (now.decision.kind !== "unconfigured" || this.applied === undefined) {
          this.removing = false;
          this.changed();
          if (now.decision.kind !== "unconfigured") void this.trigger();
          return;
        }
        this.removing = false;
        this.cancelRetry();
        if (this.options.onRemove === "stop") {
          this.options.log.info(
            { event: "agent_stopping", reason: "relation removed" },
            "relation removed: stopping the agent",
          );
          await this.options.runner.stop();
          this.applied = undefined;
          this.appliedCheck = undefined;
          this.knownGood = undefined;
          await this.options.state.clear();
        }
        this.changed();
      });
    }, this.options.removeGraceMs);
  }

  private cancelRemove(): void {
    if (this.removeTimer === undefined) return;
    clearTimeout(this.removeTimer);
    this.removeTimer = undefined;
    this.removing = false;
  }
}
