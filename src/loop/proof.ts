// The rules of verified delivery: a newly applied config proves itself with an OK write of the
// agent, or is rolled back (or, with nothing to go back to, reported) at its deadline.
import type { Launch } from "../agent/runner.js";
import { type Problem, problem } from "../problem.js";
import { rollback } from "./apply.js";
import type { EventOf } from "./events.js";
import type { LoopState } from "./state.js";
import { knownGood, log, type Step, stay } from "./step.js";

/** The proving config is the last-known-good: proven by an OK write, or with nothing to prove. */
function trust(state: LoopState, proven: boolean): Step {
  const { applied } = state;
  if (applied === undefined) return stay(state);
  const kept = knownGood(applied.config, applied.rollbackTo);
  return stay({ ...state, applied: { ...applied, stage: "trusted" }, knownGood: kept }, [
    { type: "disarm", timer: "proof" },
    log(
      "info",
      { event: proven ? "delivery_proven" : "delivery_unknown", address: applied.config.address },
      proven
        ? "the agent's writes reach the store: the config is the last-known-good"
        : "no agent metrics to prove the config by: it is the last-known-good",
    ),
    { type: "persist", knownGood: kept },
  ]);
}

/** What the agent's metrics said: shown; an OK write proves a proving config. */
export function onDeliveryObserved(state: LoopState, event: EventOf<"deliveryObserved">): Step {
  const { applied } = state;
  if (applied?.launch !== event.launch) return stay(state);
  const kept = state.delivery?.problem;
  const next = {
    ...state,
    delivery: { ...event.view, ...(kept ? { problem: kept } : {}) },
    metricsSeen: state.metricsSeen || event.counted,
  };
  const remember =
    event.counted && !state.metricsSeen ? [{ type: "rememberMetrics" } as const] : [];
  if (applied.stage === "proving" && event.proven) {
    const trusted = trust(next, true);
    return stay(trusted.state, [...remember, ...trusted.effects]);
  }
  return stay(next, remember);
}

/** Why a proving config was not proven by its deadline; undefined: nothing to hold against it. */
function unproven(state: LoopState): Problem | undefined {
  const d = state.delivery;
  const { deliveryTimeoutMs: ms, metricsUrl } = state.settings;
  if (d === undefined) return undefined;
  if (d.failed > 0)
    return problem(
      "AGENT_WRITES_FAILING",
      `the agent's writes to the store fail (${d.lastFailureCode || "an error"}), and none succeeded within ${ms} ms`,
      "the store refuses the agent's data (a quota, a disabled tenant, a token it does not accept): fix it at the store or in the relation data",
    );
  if (d.expected && !d.answered && d.relay)
    return problem(
      "AGENT_NOT_CONNECTED",
      `the agent made no call through the relay (${d.relay}) within ${ms} ms`,
      `check that the agent's --remote-store-address is the relay's (${d.relay}) and that it runs; check its log`,
    );
  if (d.expected && !d.answered)
    return problem(
      "AGENT_NOT_CONNECTED",
      `the agent's metrics (${metricsUrl}) never answered within ${ms} ms: it did not reach the store`,
      "the agent may not trust the store's CA (give it to the node's system roots, not only --ca-file) or cannot reach it; check the agent's log",
    );
  if (d.expected || d.answered)
    return problem(
      "AGENT_NOT_DELIVERING",
      `the agent wrote nothing within ${ms} ms`,
      "check the agent's log (eBPF, permissions) and that it profiles anything",
    );
  return undefined;
}

/** The proving config's deadline: rolled back with the reason, or reported when nothing to go back to. */
export function onProofDeadline(
  state: LoopState,
  launch: Launch | undefined,
  lastWords: string | undefined,
): Step {
  const { applied } = state;
  if (applied === undefined || applied.launch !== launch || applied.stage !== "proving")
    return stay(state);
  const p = unproven(state);
  if (p === undefined) return trust(state, false);
  const said = log("warn", { event: "delivery_failed", code: p.code }, p.message);
  const delivery = state.delivery ? { ...state.delivery, problem: p } : undefined;
  const failed = { ...state, ...(delivery ? { delivery } : {}) };
  if (applied.rollbackTo === undefined) {
    // Nothing to go back to: the agent is left running, reported, never restarted for it.
    return stay({ ...failed, applied: { ...applied, stage: "unproven" } }, [said]);
  }
  const back = rollback(failed, launch, p, lastWords);
  return stay(back.state, [said, ...back.effects]);
}
