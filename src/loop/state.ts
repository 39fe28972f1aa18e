import type { RenderOptions } from "../agent/flags.js";
import type { Launch } from "../agent/runner.js";
import type { DeliveryStateName } from "../delivery/tracker.js";
import type { Problem } from "../problem.js";
import type { Resolution } from "../relation/sources.js";
import type { StoreConfig } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";

export type Unverified = "hold" | "apply";
export type OnRemove = "stop" | "keep";

/** What the loop is told once, at start: the options that shape its rules. */
export interface Settings {
  readonly baseArgs: readonly string[];
  readonly render: RenderOptions;
  readonly unverified: Unverified;
  readonly onRemove: OnRemove;
  readonly removeGraceMs: number;
  readonly minUptimeMs: number;
  /** How long a newly applied config has to prove itself with an OK write of the agent. */
  readonly deliveryTimeoutMs: number;
  /** The agent's /metrics; undefined: reading them is off. */
  readonly metricsUrl: string | undefined;
  /** Metrics are expected from the agent from the start (its version is known). */
  readonly metricsExpected: boolean;
}

/**
 * What the loop is doing about the desired config. Exactly one at a time; leaving one cancels
 * what it armed (a retry, a removal grace, a check in flight).
 */
export type Work =
  /** Nothing read yet. */
  | { readonly kind: "starting" }
  /** Nothing to do: the agent runs what the data asks for, or the data asks for nothing new. */
  | { readonly kind: "idle" }
  /**
   * Checking `config` before applying it; `recheck`: it is what the agent runs already
   * (applied although its check failed) and passing promotes it. `eventAt`: the first file
   * event that led here (performance.now()), for the reaction time and the reuse of an early
   * check. `checked`: its check is done, and a newer read confirms the data before it is acted on.
   */
  | {
      readonly kind: "checking";
      readonly config: StoreConfig;
      readonly recheck: boolean;
      readonly eventAt?: number;
      readonly checked?: CheckResult;
    }
  /** Putting `config` in front of the agent: (re)starting it, or its restart command running. */
  | { readonly kind: "applying"; readonly config: StoreConfig }
  /** `config` failed its check; `waiting`: its backoff retry is armed (a Reload disarms it). */
  | {
      readonly kind: "held";
      readonly why: "check";
      readonly config: StoreConfig;
      readonly waiting: boolean;
    }
  /** `config` could not be applied, and why; retried like a failed check. */
  | {
      readonly kind: "held";
      readonly why: "apply";
      readonly config: StoreConfig;
      readonly waiting: boolean;
      readonly message: string;
    }
  /** No store configured any more; the agent keeps running until the grace period ends. */
  | { readonly kind: "removing" }
  /** Shutting down. */
  | { readonly kind: "stopped" };

/** What every stage of an applied config has. */
interface AppliedBase {
  readonly config: StoreConfig;
  readonly launch: Launch;
  /** Exits before --min-uptime-ms since it was applied. */
  readonly earlyExits: number;
  /** One agent process of it ran --min-uptime-ms: a crash loop after that keeps the phase. */
  readonly stayedUp: boolean;
  /** Where a crash loop or a failed proof goes back to; dropped once it stayed up, if trusted. */
  readonly rollbackTo?: StoreConfig;
}

/**
 * The config the agent runs with, by how far it got: `unchecked` (applied although its check
 * failed: --unverified apply), `proving` (checked, waiting for an OK write of the agent: not the
 * last-known-good yet, its rollback target kept), `trusted` (checked and proven, or nothing to
 * prove it by: the last-known-good), `unproven` (its proof failed with nothing to roll back to:
 * left running and reported). Replaced, never changed in place.
 */
export type Applied = AppliedBase & {
  readonly stage: "unchecked" | "proving" | "trusted" | "unproven";
};

/** Passed its check (or is the last-known-good that did). */
export function isChecked(applied: Applied | undefined): boolean {
  return applied !== undefined && applied.stage !== "unchecked";
}

/**
 * What survives a sidecar restart: the last config that passed its check and ran, and the one
 * before it, the rollback target until the newer one has stayed up. Holds the token.
 */
export interface KnownGood {
  readonly current: StoreConfig;
  readonly previous?: StoreConfig;
}

/** An operator's freeze: new relation data is checked and shown, never applied. */
export interface Paused {
  readonly reason: string;
  readonly since: Date;
}

/** A config that was rolled back; stays rejected until the data changes or a Reload. */
export interface Rejected {
  readonly config: StoreConfig;
  /** AGENT_CRASH_LOOP, AGENT_WRITES_FAILING, AGENT_NOT_CONNECTED or AGENT_NOT_DELIVERING. */
  readonly code: string;
  readonly reason: string;
  readonly hint: string;
}

/** What the agent's own metrics say of its writes, for the launch that runs. */
export interface DeliveryView {
  readonly state: DeliveryStateName;
  /** Empty when reading the agent's metrics is off, or the relay observes delivery. */
  readonly url: string;
  /** The relay's address, when the relay observes delivery: it sees every write's status. */
  readonly relay?: string;
  readonly ok: number;
  readonly failed: number;
  readonly lastFailureCode: string;
  readonly lastOkAt?: Date;
  /** Its /metrics answered at least once. */
  readonly answered: boolean;
  /** Metrics were expected from this agent. */
  readonly expected: boolean;
  /** Why the applied config was not proven (and could not be rolled back). */
  readonly problem?: Problem;
}

/** A check whose result was acted upon, and the config it was about. */
export interface CheckRecord {
  readonly config: StoreConfig;
  readonly result: CheckResult;
}

/** Everything status, readiness, metrics and the status message are derived from. */
export interface LoopState {
  readonly settings: Settings;
  readonly work: Work;
  /** The last stable read of the sources; undefined before the first. */
  readonly resolution?: Resolution;
  readonly applied?: Applied;
  readonly rejected?: Rejected;
  /** The last-known-good as persisted (or as it was meant to be, when writing it failed). */
  readonly knownGood?: KnownGood;
  /** Why the last-known-good could not be persisted, until it can. */
  readonly persistError?: string;
  /** The most recent check of a desired config that counted (never a discarded one). */
  readonly lastCheck?: CheckRecord;
  /** The most recent periodic re-check of the applied config. */
  readonly appliedCheck?: CheckResult;
  /** SOURCE_MISSING for --relation paths missing at start that have not appeared since. */
  readonly missing: readonly Problem[];
  readonly delivery?: DeliveryView;
  /** An earlier agent on this state dir exported the write counters. */
  readonly metricsSeen: boolean;
  /** Frozen by an operator (Pause): new relation data is checked, never applied. */
  readonly paused?: Paused;
  /** Failed checks or applies since the last success or newer data: the retry's backoff step. */
  readonly retries: number;
  /** The first file event not yet acted upon (performance.now()). */
  readonly eventAt?: number;
}

export function initialState(settings: Settings, missing: readonly Problem[] = []): LoopState {
  return { settings, work: { kind: "starting" }, missing, metricsSeen: false, retries: 0 };
}
