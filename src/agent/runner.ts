import type { Problem } from "../problem.js";
import type { StoreConfig } from "../relation/types.js";

export type AgentState = "STOPPED" | "STARTING" | "RUNNING" | "STOPPING" | "BACKOFF" | "EXTERNAL";

/** How the agent last exited. */
export interface ExitInfo {
  readonly code: number;
  readonly signal: string;
  readonly at: Date;
  readonly stderrTail: readonly string[];
  /** The sidecar stopped it: not a crash. */
  readonly planned?: boolean;
  /**
   * What exited was the agent's worker (its re-executed child) while its parent lived on;
   * `code` is what the parent logged for it, else -1.
   */
  readonly worker?: boolean;
}

export interface AgentSnapshot {
  readonly state: AgentState;
  readonly pid: number;
  /** Starts after the first, planned (a new config) or not. */
  readonly restarts: number;
  /** Exits the agent made by itself, since the sidecar started. */
  readonly crashes?: number;
  readonly startedAt?: Date;
  readonly lastExit?: ExitInfo;
  /** Whether an agent runs now (external mode: the last restart command succeeded). */
  readonly running: boolean;
  /** The argv it runs with, token redacted. */
  readonly args: readonly string[];
  /** Why the last start or restart failed, if it did. */
  readonly error?: string;
  /** What keeps the agent from running as rendered (AGENT_START_FAILED, …), if anything. */
  readonly problem?: Problem;
  /** Something status should say about the agent that is not a problem. */
  readonly notice?: string;
  /**
   * The last warning or error line the running agent logged (token scrubbed), as soon as it
   * logs it: its own words on what goes wrong ("Failed to setup gRPC connection …").
   */
  readonly lastWords?: string;
  /**
   * The agent may start: supervise mode, it was started once; external mode, a flags file was
   * written once (health `startup`, the gate an agent container waits on).
   */
  readonly prepared?: boolean;
}

/** What to run the agent with. */
export interface Launch {
  readonly store: StoreConfig;
  readonly argv: readonly string[];
  /** Environment variables the agent must not inherit. */
  readonly unsetEnv: readonly string[];
  /** Written 0600 before the agent (re)starts. */
  readonly tokenFile?: { readonly path: string; readonly content: string };
}

export type RunnerEvent =
  | { readonly type: "state" }
  | {
      /** The agent exited without being asked to. */
      readonly type: "exit";
      readonly exit: ExitInfo;
      readonly uptimeMs: number;
      readonly launch: Launch;
    };

/**
 * Runs the agent: as a supervised child, through an external service manager, or behind the
 * relay (which applies a store without touching the agent).
 */
export interface Runner {
  /**
   * Puts the launch's store in front of the agent — (re)starting it, or switching the relay —
   * and resolves once done; throws when it could not be. `signal` gives up on a restart command
   * still running (external mode).
   */
  apply(launch: Launch, signal?: AbortSignal): Promise<void>;
  /**
   * The agent keeps running across applies: the relay switches the store under it, so an apply
   * restarts nothing (a rollback neither).
   */
  readonly keepsAgent?: boolean;
  /**
   * Stops the agent for good (external mode: runs the stop command, given up on by `signal`) and
   * removes its token file: a secret stays on disk only while an agent may need it.
   */
  stop(signal?: AbortSignal): Promise<void>;
  snapshot(): AgentSnapshot;
  subscribe(listener: (event: RunnerEvent) => void): () => void;
}

/**
 * A launch that could not be applied (its token file not written, its restart command failed):
 * the running agent was not touched, or is reported as it is.
 */
export class ApplyError extends Error {
  override readonly name = "ApplyError";
}

/** How many of its last stderr (or command output) lines an exit report keeps. */
export const TAIL_LINES = 50;
