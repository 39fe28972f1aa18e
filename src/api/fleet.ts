// What the fleet's gauges say of one sidecar, derived from the loop's state.
import { hostname } from "node:os";
import { parseFlags } from "../flag-names.js";
import type { LoopState } from "../loop/state.js";

/** The last check's diagnosis: OK when it passed, NONE before any. */
export function diagnosisCode(state: LoopState): string {
  const result = state.lastCheck?.result;
  if (result === undefined) return "NONE";
  return result.ok ? "OK" : (result.diagnosis?.code ?? "UNKNOWN");
}

/** The node a sidecar speaks for: the agent's --node, else NODE_NAME, else the host name. */
export function nodeName(baseArgs: readonly string[], env: NodeJS.ProcessEnv): string {
  return parseFlags(baseArgs).get("--node")?.at(-1) || env.NODE_NAME || hostname();
}
