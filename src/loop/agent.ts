// The rules about the agent's own life: its early exits (a crash loop), the uptime that proves a
// config, and its stop when the relation is gone.
import type { Launch } from "../agent/runner.js";
import { problem as makeProblem } from "../problem.js";
import type { EventOf } from "./events.js";
import { type Applied, isChecked, type LoopState } from "./state.js";
import { go, knownGood, type Step, stay } from "./step.js";

/** Rolls back after this many exits, each within --min-uptime-ms of its start. */
export const ROLLBACK_AFTER_EARLY_EXITS = 3;

/**
 * The agent exited by itself: an early exit counts; three make a crash loop, rolled back in the
 * loop's turn while a rollback target is kept.
 */
export function onAgentExited(state: LoopState, event: EventOf<"agentExited">): Step {
  const { applied, settings } = state;
  if (applied?.launch !== event.launch || event.uptimeMs >= settings.minUptimeMs)
    return stay(state);
  const counted: Applied = { ...applied, earlyExits: applied.earlyExits + 1 };
  const next = { ...state, applied: counted };
  if (counted.earlyExits < ROLLBACK_AFTER_EARLY_EXITS || !counted.rollbackTo) return stay(next);
  const stderr = event.stderrTail.slice(-3).join(" | ");
  const last = stderr ? ` (last stderr: ${stderr})` : "";
  const problem = makeProblem(
    "AGENT_CRASH_LOOP",
    `${counted.config.address} exited ${counted.earlyExits} times within ${settings.minUptimeMs} ms of starting${last}`,
    "the agent's last stderr lines say why; fix the store or the agent's flags, then change the relation data or reload (SIGHUP)",
  );
  return stay(next, [
    { type: "later", event: { type: "crashLoop", launch: event.launch, problem } },
  ]);
}

/**
 * Once one agent process of the launch stayed up --min-uptime-ms without an exit, its rollback
 * target is dropped (a proving config keeps it until an OK write). An agent restarted after a
 * crash in between does not count: the watch looks again when it would have stayed up.
 */
export function onUptime(state: LoopState, launch: Launch | undefined, upMs: number): Step {
  const { applied, settings } = state;
  if (applied === undefined || applied.launch !== launch) return stay(state);
  const minMs = settings.minUptimeMs;
  if (upMs < minMs)
    return stay(state, [
      { type: "arm", timer: "uptime", ms: upMs < 0 ? minMs : minMs - upMs, launch },
    ]);
  const proving = applied.stage === "proving";
  const target = proving ? undefined : applied.rollbackTo;
  const { rollbackTo: _, ...rest } = applied;
  const stayed: Applied = { ...(proving ? applied : rest), earlyExits: 0, stayedUp: true };
  const next = { ...state, applied: stayed };
  if (target === undefined || !isChecked(applied)) return stay(next);
  const kept = knownGood(applied.config, undefined);
  return stay({ ...next, knownGood: kept }, [{ type: "persist", knownGood: kept }]);
}

/** The agent was stopped for good: nothing applied, no last-known-good. */
export function onAgentStopped(state: LoopState): Step {
  const { applied: _, appliedCheck: __, knownGood: ___, ...rest } = state;
  return go(rest, { kind: "idle" });
}
