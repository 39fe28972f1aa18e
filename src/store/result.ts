import type { Problem } from "../problem.js";
import type { AgentWrite } from "./version.js";

export interface CheckOptions {
  /** The whole check's budget; no stage runs past it. */
  readonly timeoutMs: number;
  readonly caFile?: string;
  /** The agent's version (given or learned): it decides which RPC the agent writes with. */
  readonly agentVersion?: string;
  /** The sidecar's environment, for SSL_CERT_FILE / SSL_CERT_DIR. */
  readonly env: NodeJS.ProcessEnv;
  /** Ends the check early, its connection closed (newer data made it pointless). */
  readonly signal?: AbortSignal;
}

export interface Stage {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly address: string;
  readonly insecure: boolean;
  readonly stages: readonly Stage[];
  readonly diagnosis?: Problem;
  readonly warnings: readonly Problem[];
  readonly durationMs: number;
  /** The RPC the write stage probed (the agent's), and why; unset when the check did not get there. */
  readonly writeRpc?: AgentWrite;
}

/** A check that failed before any stage ran (bad input, no store, unreadable token file). */
export function failedCheck(address: string, insecure: boolean, diagnosis: Problem): CheckResult {
  return { ok: false, address, insecure, stages: [], diagnosis, warnings: [], durationMs: 0 };
}
