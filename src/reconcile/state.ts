import type { Launch } from "../agent/runner.js";
import type { DeliveryStateName } from "../delivery/tracker.js";
import type { Problem } from "../problem.js";
import type { Resolution } from "../relation/sources.js";
import type { StoreConfig } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";

export type Unverified = "hold" | "apply";
export type OnRemove = "stop" | "keep";

/**
 * What the loop is doing about the desired config. Exactly one at a time; every change goes
 * through `LoopMachine.commit`, which also releases what the state left behind held.
 */
export type Work =
  /** Nothing read yet. */
  | { readonly kind: "starting" }
  /** Nothing to do: the agent runs what the data asks for, or the data asks for nothing new. */
  | { readonly kind: "idle" }
  /** Checking `config` before applying it (also while a config that passed is applied). */
  | { readonly kind: "checking"; readonly config: StoreConfig }
  /** Putting `config` in front of the agent: (re)starting it, or its restart command running. */
  | { readonly kind: "applying"; readonly config: StoreConfig }
  /**
   * `config` failed its check (`why: "check"`) or could not be applied (`why: "apply"`, with the
   * message); a retry waits for its backoff.
   */
  | {
      readonly kind: "held";
      readonly config: StoreConfig;
      readonly why: "check" | "apply";
      readonly message: string;
    }
  /** No store configured any more; the agent keeps running until the grace period ends. */
  | { readonly kind: "removing" }
  /** Shutting down. */
  | { readonly kind: "stopped" };

/** The config the agent runs with, and how it got there. Replaced, never changed in place. */
export interface Applied {
  readonly config: StoreConfig;
  readonly launch: Launch;
  /** Passed its check (or is the last-known-good that did). */
  readonly checked: boolean;
  /** Exits before --min-uptime-ms since it was applied. */
  readonly earlyExits: number;
  /** Where to go back to if it crash-loops; dropped once it has run --min-uptime-ms. */
  readonly rollbackTo?: StoreConfig;
  /** It ran --min-uptime-ms once: a crash loop after that leaves the phase as it is. */
  readonly stayedUp?: boolean;
  /**
   * Newly applied and not proven yet by an OK write of the agent: not persisted as
   * last-known-good, its rollback target kept whatever its uptime.
   */
  readonly pending?: boolean;
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

/** What the agent's own metrics say of its writes. */
export interface DeliveryView {
  readonly state: DeliveryStateName;
  /** Empty when reading the agent's metrics is off. */
  readonly url: string;
  readonly ok: number;
  readonly failed: number;
  readonly lastFailureCode: string;
  readonly lastOkAt?: Date;
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
  readonly work: Work;
  /** The last stable read of the sources; undefined before the first. */
  readonly resolution?: Resolution;
  readonly applied?: Applied;
  readonly rejected?: Rejected;
  /** The most recent check of a desired config that counted (never a discarded one). */
  readonly lastCheck?: CheckRecord;
  /** The most recent periodic re-check of the applied config. */
  readonly appliedCheck?: CheckResult;
  /** Why the last-known-good could not be persisted, until it can. */
  readonly stateError?: string;
  /** SOURCE_MISSING for --relation paths missing at start that have not appeared since. */
  readonly missing: readonly Problem[];
  readonly delivery?: DeliveryView;
  /** Frozen by an operator (Pause): new relation data is checked, never applied. */
  readonly paused?: Paused;
}

export const INITIAL_STATE: LoopState = { work: { kind: "starting" }, missing: [] };
