import { causeChain } from "../core/errors.js";
import { SerialQueue } from "../core/serial-queue.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import { StoreChecks } from "./checks.js";
import { DELIVERY_OFF, DeliveryGuard } from "./delivery-guard.js";
import { HeldRetry } from "./held.js";
import { KnownGoodKeeper } from "./known-good.js";
import { LoopMachine } from "./machine.js";
import type { ReconcilerOptions } from "./options.js";
import { PauseSwitch } from "./pause.js";
import { RemovalGrace } from "./removal.js";
import { Rollout } from "./rollout.js";
import { logInvalid, readStable, sameResolution } from "./sources.js";
import type { LoopState } from "./state.js";

/**
 * The sidecar's loop: from relation data to a running agent. Reconciles run one at a time (a
 * trigger while one runs makes exactly one more); the state lives in one LoopMachine, and
 * status is derived from its snapshot. docs/architecture.md draws the states.
 */
export class Reconciler {
  private readonly machine = new LoopMachine();
  private readonly queue = new SerialQueue();
  /** The store checks: the loop's own, the API's CheckStore and the periodic re-check. */
  readonly checks: StoreChecks;
  private readonly retry: HeldRetry;
  private readonly known: KnownGoodKeeper;
  private readonly rollout: Rollout;
  private readonly removal: RemovalGrace;
  private readonly delivery: DeliveryGuard;
  private readonly pauses: PauseSwitch;
  private pending: Promise<void> | undefined;
  /** When the first file event not yet acted upon happened (performance.now()). */
  private eventAt: number | undefined;

  constructor(private readonly options: ReconcilerOptions) {
    this.checks = new StoreChecks(this.machine, options);
    this.known = new KnownGoodKeeper(options.state, options.log);
    const enqueue = (work: () => Promise<void>) => this.enqueue(work);
    const observer = options.observer ? { observer: options.observer } : {};
    const delivery = { ...(options.delivery ?? DELIVERY_OFF), log: options.log };
    this.delivery = new DeliveryGuard(this.machine, delivery, (launch, verdict) =>
      enqueue(() => this.rollout.settle(launch, verdict)),
    );
    const rolloutOptions = { ...options, ...observer };
    this.rollout = new Rollout(this.machine, this.known, rolloutOptions, enqueue, this.delivery);
    this.removal = new RemovalGrace(this.machine, this.rollout, options, enqueue, () => {
      void this.trigger();
    });
    this.pauses = new PauseSwitch(this.machine, options.pauseFile, options.log);
    this.retry = new HeldRetry(this.machine, options.retry, options.log, () => {
      void this.enqueue(() => this.retryHeld());
    });
    this.machine.onExit("removing", () => this.removal.cancel());
    this.machine.commit({ missing: options.sources.missing() });
  }

  /** The loop's state: read-only, replaced on every change. */
  get state(): LoopState {
    return this.machine.state;
  }

  /** Called on every change of state. */
  readonly onChange = (listener: () => void) => this.machine.onChange(listener);

  /** Starts the persisted last-known-good at once, without waiting for the store, then reconciles. */
  async start(): Promise<void> {
    for (const p of this.state.missing)
      this.options.log.warn({ event: "source_missing", path: p.path }, p.message);
    await this.pauses.restore();
    await this.delivery.load();
    await this.enqueue(() => this.rollout.startKnownGood());
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

  /**
   * The first event of a change, while its quiet period runs: read once and start checking what
   * the data asks for, so the check is (nearly) done when the data has settled. Newer data
   * aborts a check of older data; the same rules as a reconcile decide whether to check at all.
   */
  async prefetch(): Promise<void> {
    if (this.state.work.kind === "stopped") return;
    const { decision } = await this.options.sources.read();
    if (decision.kind !== "configured") return this.checks.abort();
    const { config } = decision;
    // A restart command still running for other data is given up on: newer data never waits.
    const { work } = this.state;
    if (work.kind === "applying" && !sameStore(work.config, config)) this.rollout.abort();
    this.options.secrets.add(config.token);
    const { rejected } = this.state;
    if (rejected && sameStore(rejected.config, config)) return;
    if (this.rollout.isApplied(config) || this.retry.awaits(config)) return;
    this.checks.prefetch(config);
  }

  /** Reload (SIGHUP, API): forget a rejection and reconcile again. */
  reload(): Promise<void> {
    this.machine.commit({ rejected: undefined });
    this.retry.reset();
    this.options.log.info({ event: "reload" }, "reloading relation data");
    return this.trigger();
  }

  /**
   * Freezes the agent's config: new relation data is still read and checked, never applied, and
   * a removed relation never stops the agent, until resume(). Kept in the pause file.
   */
  async pause(reason: string): Promise<void> {
    await this.pauses.pause(reason);
    this.removal.cancel();
    await this.trigger();
  }

  /** Ends a pause: the desired config is reconciled again. */
  async resume(): Promise<void> {
    await this.pauses.resume();
    await this.trigger();
  }

  async shutdown({ stopAgent }: { readonly stopAgent: boolean }): Promise<void> {
    this.machine.commit({ work: { kind: "stopped" } });
    this.retry.cancel();
    this.removal.cancel();
    this.checks.abort();
    this.rollout.abort();
    this.delivery.stop();
    this.rollout.close();
    await this.queue.drained();
    if (stopAgent) await this.rollout.stopAgent();
    this.machine.commit({});
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    return this.queue.run(async () => {
      if (this.state.work.kind === "stopped") return;
      try {
        await work();
      } catch (err) {
        const error = this.options.secrets.scrub(causeChain(err).join(": "));
        this.options.log.error({ event: "reconcile_failed", error }, "reconcile failed");
      }
    });
  }

  private async reconcile(): Promise<void> {
    const eventAt = this.eventAt;
    this.eventAt = undefined;
    const resolution = await readStable(this.options.sources);
    const before = this.state.resolution;
    const { decision } = resolution;
    const missing = this.options.sources.missing();
    if (decision.kind === "error") {
      if (!sameResolution(before, resolution)) logInvalid(this.options.log, decision.error);
      this.machine.commit({ resolution, missing, work: { kind: "idle" } });
      return;
    }
    if (decision.kind === "unconfigured") {
      const removing = this.state.applied !== undefined && this.state.paused === undefined;
      if (removing && this.state.work.kind !== "removing") this.removal.begin();
      this.machine.commit({ resolution, missing, work: { kind: removing ? "removing" : "idle" } });
      return;
    }
    const { config } = decision;
    this.options.secrets.add(config.token);
    const { rejected, applied } = this.state;
    if (rejected && sameStore(rejected.config, config)) {
      this.machine.commit({ resolution, missing, work: { kind: "idle" } });
      return;
    }
    this.machine.commit({ resolution, missing, rejected: undefined });
    if (applied && this.rollout.isApplied(config)) {
      // Nothing changes for the agent. A config applied unverified keeps being re-checked.
      if (applied.checked) {
        this.retry.reset();
        this.machine.commit({ work: { kind: "idle" } });
      } else if (!this.retry.pending) await this.verifyApplied();
      return;
    }
    // A config that failed its check is retried by the backoff timer, not by every event.
    if (this.retry.awaits(config)) return;
    // Paused: a config already checked waits for resume, without checking it again.
    if (this.pauses.holds(config)) {
      this.machine.commit({ work: { kind: "idle" } });
      return;
    }
    await this.checkAndApply(config, eventAt);
  }

  private async checkAndApply(config: StoreConfig, eventAt?: number): Promise<void> {
    const work = this.state.work;
    if (work.kind === "held" && !sameStore(work.config, config)) this.retry.reset();
    this.machine.commit({ work: { kind: "checking", config } });
    const checked = await this.checks.forLoop(config, eventAt);
    // Aborted by newer data, or the files changed again during the check and have not been
    // quiet since: acting now would restart the agent (or report a failure) for data already
    // being replaced. Still "checking": the reconcile for the newer data is next.
    if (checked === undefined || (this.options.unsettledSince?.() ?? -1) >= checked.startedAt) {
      if (eventAt !== undefined) this.eventAt ??= eventAt;
      return;
    }
    // Newer data came in during the check through a rescan or reload: let that reconcile decide.
    if (this.pending !== undefined) {
      const now = await readStable(this.options.sources);
      if (now.decision.kind !== "configured" || !sameStore(now.decision.config, config)) {
        if (eventAt !== undefined) this.eventAt ??= eventAt;
        this.machine.commit({ resolution: now, work: { kind: "idle" } });
        return;
      }
    }
    const { result } = checked;
    this.checks.record(config, result);
    if (result.ok) this.retry.reset();
    // Paused: checked and shown, never applied (a failed check is held and retried as ever).
    if (this.state.paused && result.ok) return this.machine.commit({ work: { kind: "idle" } });
    if (result.ok || (this.options.unverified === "apply" && !this.state.paused)) {
      this.machine.commit({ work: { kind: "applying", config } });
      const outcome = await this.rollout.apply(config, { checked: result.ok, eventAt });
      if (outcome === "aborted") {
        // Newer data gave up on it (or the sidecar stops): the reconcile for that data is next.
        if (eventAt !== undefined) this.eventAt ??= eventAt;
        this.machine.commit({ work: { kind: "idle" } });
        return;
      }
      if (outcome !== "applied") return this.retry.hold(config, "apply", outcome.failed);
      if (result.ok) return;
    }
    this.retry.hold(config, "check", "");
  }

  /** The applied config failed its check (--unverified apply): check again; promote it if it passes. */
  private async verifyApplied(): Promise<void> {
    const applied = this.state.applied;
    if (applied === undefined || applied.checked) return;
    this.machine.commit({ work: { kind: "checking", config: applied.config } });
    const checked = await this.checks.forLoop(applied.config, undefined);
    if (checked === undefined || this.state.applied !== applied) return;
    this.checks.record(applied.config, checked.result);
    if (!checked.result.ok) return this.retry.hold(applied.config, "check", "");
    const stateError = await this.known.remember(applied.config, applied.rollbackTo);
    this.retry.reset();
    this.machine.commit({
      applied: { ...applied, checked: true },
      stateError,
      work: { kind: "idle" },
    });
  }

  /** The backoff of a held config is over: check (and apply) what the data asks for now. */
  private async retryHeld(): Promise<void> {
    const decision = this.state.resolution?.decision;
    if (decision?.kind !== "configured") return;
    if (this.rollout.isApplied(decision.config)) await this.verifyApplied();
    else if (!this.state.rejected || !sameStore(this.state.rejected.config, decision.config))
      await this.checkAndApply(decision.config);
  }
}
