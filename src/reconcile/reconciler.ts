import type { RunnerEvent } from "../agent/runner.js";
import { causeChain } from "../core/errors.js";
import { Listeners } from "../core/listeners.js";
import { SerialQueue } from "../core/serial-queue.js";
import type { Effect } from "../loop/effects.js";
import type { LoopEvent } from "../loop/events.js";
import { initialState, type LoopState } from "../loop/state.js";
import { knownGood as lastKnownGood } from "../loop/step.js";
import { transition } from "../loop/transition.js";
import { NO_METRICS_MEMORY } from "../state-dir/metrics-memory.js";
import type { CheckResult } from "../store/check.js";
import { CheckGate } from "./check-gate.js";
import { InstantEffects } from "./instant.js";
import type { ReconcileObserver, ReconcilerOptions } from "./options.js";
import { Aborted, perform } from "./perform.js";

/** Effects that wait for the loop's turn: they do I/O whose result is the next event. */
const IN_TURN = new Set<Effect["type"]>(["read", "check", "apply", "stopAgent", "persist"]);

/**
 * The loop's runner: it feeds events to `transition` (src/loop/) one at a time, keeps the one
 * state it returns, and carries the effects out. Work with I/O runs in one queue, a turn at a
 * time: what an event in a turn leads to runs within that turn, so a read, its check and its
 * apply are never interleaved with other work. It decides nothing.
 */
export class Reconciler {
  private current: LoopState;
  private readonly listeners = new Listeners();
  private readonly queue = new SerialQueue();
  /** The reconcile read queued and not started yet: a trigger joins it. */
  private queuedRead: Promise<void> | undefined;
  /** The restart or stop command in flight, given up on by `abortApply`. */
  private inflight: AbortController | undefined;
  private desiredCheck: Promise<CheckResult | undefined> | undefined;
  readonly gate: CheckGate;
  private readonly instant: InstantEffects;
  private readonly unsubscribe: () => void;

  constructor(readonly options: ReconcilerOptions) {
    const d = options.delivery;
    this.current = initialState(
      {
        baseArgs: options.baseArgs,
        render: options.render,
        unverified: options.unverified,
        onRemove: options.onRemove,
        removeGraceMs: options.removeGraceMs,
        minUptimeMs: options.minUptimeMs,
        deliveryTimeoutMs: d?.timeoutMs ?? 0,
        // Behind the relay, delivery is observed there: always, and exactly.
        metricsUrl: d?.relay?.address ?? d?.url,
        metricsExpected: d?.relay !== undefined || (d?.expected ?? false),
      },
      options.sources.missing(),
    );
    this.gate = new CheckGate(options.checker);
    this.instant = new InstantEffects(this);
    this.unsubscribe = options.runner.subscribe((event) => this.onRunner(event));
  }

  /** Tells `observer` of every check that counts, apply and rollback (metrics). */
  observe(observer: ReconcileObserver): void {
    this.instant.observers.push(observer);
  }

  /** The loop's state: read-only, replaced on every change. */
  get state(): LoopState {
    return this.current;
  }

  /** Called on every change of the loop's state, and of the agent's. */
  onChange(listener: () => void): () => void {
    return this.listeners.subscribe(listener);
  }

  /** Starts the persisted last-known-good at once, without waiting for the store, then reconciles. */
  async start(): Promise<void> {
    const { pauseFile, knownGood, delivery } = this.options;
    const paused = await pauseFile?.load();
    const metricsSeen = await (delivery?.memory ?? NO_METRICS_MEMORY).seen().catch(() => false);
    const known = await knownGood.load();
    const kept = known && lastKnownGood(known.current, known.previous);
    await this.handle({
      type: "started",
      metricsSeen,
      ...(paused ? { paused } : {}),
      ...(kept ? { knownGood: kept } : {}),
    });
  }

  /**
   * Re-reads the sources and reconciles; coalesced with any reconcile not yet started.
   * `eventAt` (performance.now()) is when a file event started this, for the reaction time.
   */
  trigger(eventAt?: number): Promise<void> {
    return this.handle({ type: "triggered", ...(eventAt === undefined ? {} : { eventAt }) });
  }

  /** The first event of a change, while its quiet period runs: one read, then the loop decides. */
  async prefetch(): Promise<void> {
    if (this.current.work.kind === "stopped") return;
    const resolution = await this.options.sources.read();
    await this.handle({ type: "earlyRead", resolution });
  }

  /** Reload (SIGHUP, API): forget a rejection and reconcile again. */
  reload(): Promise<void> {
    return this.handle({ type: "reloaded" });
  }

  /** Freezes the agent's config until resume(); kept in the pause file first, or refused. */
  async pause(reason: string): Promise<void> {
    const paused = { reason, since: new Date() };
    await this.options.pauseFile?.save(paused);
    await this.handle({ type: "paused", paused });
  }

  async resume(): Promise<void> {
    await this.options.pauseFile?.clear();
    await this.handle({ type: "resumed" });
  }

  /**
   * The periodic re-check of the applied config (the loop skips it while the agent delivers);
   * settles when it is done.
   */
  async recheck(): Promise<void> {
    await this.handle({ type: "recheckDue" });
    await this.instant.rechecking;
  }

  /** Checks the desired config now (API CheckStore); concurrent calls share one run. */
  checkDesired(): Promise<CheckResult | undefined> {
    this.desiredCheck ??= (async () => {
      const decision = this.current.resolution?.decision;
      if (decision?.kind !== "configured") return undefined;
      const result = await this.options.checker.check(decision.config);
      await this.handle({ type: "desiredChecked", config: decision.config, result });
      return result;
    })().finally(() => {
      this.desiredCheck = undefined;
    });
    return this.desiredCheck;
  }

  async shutdown({ stopAgent }: { readonly stopAgent: boolean }): Promise<void> {
    await this.handle({ type: "shutdown" });
    this.unsubscribe();
    await this.queue.drained();
    if (stopAgent) await this.abortable((signal) => this.options.runner.stop(signal));
    this.listeners.emit();
  }

  /** The one writer: the state `transition` returns for `event`; its effects to carry out. */
  private step(event: LoopEvent): readonly Effect[] {
    const { state, effects } = transition(this.current, event);
    if (state !== this.current) {
      this.current = state;
      this.listeners.emit();
    }
    return effects;
  }

  /** An event from outside a turn: effects up to the first with I/O now, the rest in a turn. */
  handle(event: LoopEvent): Promise<void> {
    const effects = this.step(event);
    const first = effects.findIndex((e) => IN_TURN.has(e.type));
    for (const effect of first < 0 ? effects : effects.slice(0, first)) this.instant.do(effect);
    if (first < 0) return Promise.resolve();
    const rest = effects.slice(first);
    const only = rest.length === 1 ? rest[0] : undefined;
    const isRead = only?.type === "read" && only.purpose === "reconcile";
    if (isRead && this.queuedRead) return this.queuedRead;
    const turn = this.turn(() => this.carryOut(rest), isRead);
    return turn;
  }

  /** Runs `work` as the loop's next turn; a failure is logged, never thrown. */
  private turn(work: () => Promise<void>, read = false): Promise<void> {
    const run: Promise<void> = this.queue.run(async () => {
      if (this.queuedRead === run) this.queuedRead = undefined;
      if (this.current.work.kind === "stopped") return;
      try {
        await work();
      } catch (err) {
        const error = this.options.secrets.scrub(causeChain(err).join(": "));
        this.options.log.error({ event: "reconcile_failed", error }, "reconcile failed");
      }
    });
    if (read) this.queuedRead = run;
    return run;
  }

  /** Within a turn: each effect in order; what one with I/O finds is the next event, at once. */
  private async carryOut(effects: readonly Effect[]): Promise<void> {
    for (const effect of effects) {
      if (!IN_TURN.has(effect.type)) {
        this.instant.do(effect);
        continue;
      }
      const event = await perform(this, effect);
      if (event) await this.carryOut(this.step(event));
    }
  }

  /** Whether a reconcile read waits behind the work running now. */
  get readQueued(): boolean {
    return this.queuedRead !== undefined;
  }

  abortApply(): void {
    this.inflight?.abort();
  }

  /** Handles `event` in the loop's next turn, with what the agent shows then. */
  later(event: LoopEvent): void {
    void this.turn(() => this.carryOut(this.step(this.enrich(event))));
  }

  /** Runs `work` as the one `abortApply` gives up on. */
  async abortable(work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const inflight = new AbortController();
    this.inflight = inflight;
    try {
      await work(inflight.signal);
    } catch (err) {
      throw inflight.signal.aborted
        ? new Aborted("given up on by abortApply", { cause: err })
        : err;
    } finally {
      if (this.inflight === inflight) this.inflight = undefined;
    }
  }

  /** What the agent shows now, added to the events that look at it when their turn comes. */
  private enrich(event: LoopEvent): LoopEvent {
    if (event.type !== "timer" && event.type !== "crashLoop") return event;
    const agent = this.options.runner.snapshot();
    const words = agent.lastWords ? { lastWords: agent.lastWords } : {};
    if (event.type === "crashLoop") return { ...event, ...words };
    if (event.timer === "uptime") {
      const upMs = agent.running && agent.startedAt ? Date.now() - agent.startedAt.getTime() : -1;
      return { ...event, upMs };
    }
    return event.timer === "proof" ? { ...event, ...words } : event;
  }

  private onRunner(event: RunnerEvent): void {
    if (event.type === "exit") {
      const stderrTail = event.exit.stderrTail.map((line) => this.options.secrets.scrub(line));
      const { launch, uptimeMs } = event;
      void this.handle({ type: "agentExited", launch, uptimeMs, stderrTail });
    }
    this.listeners.emit();
  }
}
