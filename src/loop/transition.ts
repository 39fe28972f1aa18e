import { onAgentExited, onAgentStopped, onUptime } from "./agent.js";
import { onApplyEnded, onPersisted, onStarted, rollback } from "./apply.js";
import type { Effect } from "./effects.js";
import type { LoopEvent } from "./events.js";
import { onDeliveryObserved, onProofDeadline } from "./proof.js";
import {
  onChecked,
  onConfirm,
  onEarlyRead,
  onRead,
  onReload,
  onRemovalRead,
  onRetry,
} from "./reconcile.js";
import type { LoopState } from "./state.js";
import { also, go, log, record, type Step, stay } from "./step.js";

const READ: Effect = { type: "read", purpose: "reconcile" };

/**
 * The loop's one rule book: what `event` makes of `state`, and what to do about it. Pure: no
 * I/O, no clock, no timers; the executors (src/reconcile/) carry the effects out, in order, and
 * turn what they find into the next events. Once stopped, nothing changes.
 */
export function transition(state: LoopState, event: LoopEvent): Step {
  if (state.work.kind === "stopped") return stay(state);
  switch (event.type) {
    case "started":
      return onStarted(state, event);
    case "triggered":
      return stay(
        state.eventAt === undefined && event.eventAt !== undefined
          ? { ...state, eventAt: event.eventAt }
          : state,
        [READ],
      );
    case "read":
      if (event.purpose === "confirm") return onConfirm(state, event.resolution);
      if (event.purpose === "removal") return onRemovalRead(state, event.resolution);
      return onRead(state, event);
    case "earlyRead":
      return onEarlyRead(state, event);
    case "checked":
      return onChecked(state, event);
    case "desiredChecked": {
      const recorded = record(state, event.config, event.result);
      return event.result.ok ? also(recorded, READ) : recorded;
    }
    case "recheckDue": {
      // The store is re-checked only while the agent's own writes do not prove it reachable.
      const { applied, delivery } = state;
      if (applied === undefined || delivery?.state === "DELIVERING") return stay(state);
      return stay(state, [{ type: "recheck", config: applied.config, launch: applied.launch }]);
    }
    case "appliedChecked": {
      const same = state.applied?.launch === event.launch;
      const observed: Effect = { type: "observeCheck", result: event.result };
      return stay(same ? { ...state, appliedCheck: event.result } : state, [observed]);
    }
    case "applyEnded":
      return onApplyEnded(state, event);
    case "persisted":
      return onPersisted(state, event);
    case "agentStopped":
      return onAgentStopped(state);
    case "agentExited":
      return onAgentExited(state, event);
    case "crashLoop":
      return rollback(state, event.launch, event.problem, event.lastWords);
    case "timer":
      if (event.timer === "retry") return onRetry(state);
      if (event.timer === "removal") return stay(state, [{ type: "read", purpose: "removal" }]);
      if (event.timer === "uptime") return onUptime(state, event.launch, event.upMs ?? -1);
      return onProofDeadline(state, event.launch, event.lastWords);
    case "deliveryObserved":
      return onDeliveryObserved(state, event);
    case "reloaded":
      return onReload(state);
    case "paused":
      return pause(state, event.paused);
    case "resumed":
      return resume(state);
    case "shutdown":
      return also(
        go(state, { kind: "stopped" }),
        ...(["retry", "removal", "uptime", "proof"] as const).map(
          (timer): Effect => ({ type: "disarm", timer }),
        ),
        { type: "abortCheck" },
        { type: "abortApply" },
        { type: "unwatchDelivery" },
      );
  }
}

/** Paused: new data is checked and shown, never applied; a removal grace stops nothing. */
function pause(state: LoopState, paused: LoopState["paused"] & object): Step {
  return stay({ ...state, paused }, [
    log(
      "warn",
      { event: "paused", reason: paused.reason },
      "paused: new relation data is not applied",
    ),
    { type: "disarm", timer: "removal" },
    READ,
  ]);
}

function resume(state: LoopState): Step {
  const { paused: was, ...rest } = state;
  const said = was
    ? [log("info", { event: "resumed" }, "resumed: relation data is applied again")]
    : [];
  return stay(rest, [...said, READ]);
}
