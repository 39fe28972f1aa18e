import type { AgentSnapshot } from "../agent/runner.js";
import { Phase } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import type { Problem } from "../problem.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import { isChecked, type LoopState } from "./state.js";

export interface View {
  readonly phase: Phase;
  /** Readiness: an agent runs a checked config and is not crash-looping. */
  readonly ready: boolean;
  readonly message: string;
}

function hint(p: Problem | undefined): string {
  return p ? `${p.message}; ${p.hint}` : "unknown reason";
}

/** Phase, readiness and the one-sentence message, derived from the loop's state. */
export function view(state: LoopState, agent: AgentSnapshot, onRemoveKeep: boolean): View {
  const v = pausedView(state, agent, baseView(state, agent, onRemoveKeep));
  if (state.persistError === undefined || state.work.kind === "stopped") return v;
  return {
    ...v,
    message: `${v.message}; cannot persist the last-known-good config (${state.persistError})`,
  };
}

/** Paused: what the desired config would have been is said, and that it waits for resume. */
function pausedView(state: LoopState, agent: AgentSnapshot, v: View): View {
  const { paused } = state;
  if (paused === undefined || state.work.kind === "stopped") return v;
  const why = paused.reason ? ` (${paused.reason})` : "";
  const desired = desiredNotRunning(state);
  if (desired === undefined || v.phase === Phase.INVALID_INPUT) {
    return {
      ...v,
      message: `paused${why}: relation data is not applied until resume; ${v.message}`,
    };
  }
  return {
    phase: Phase.DEGRADED,
    ready: runsChecked(state, agent) && agent.problem === undefined,
    message: `paused${why}: ${desired.address} is not applied until resume; ${keepsRunning(state)}`,
  };
}

/** The config the relation data asks for when the agent does not run it (held, rolled back, paused). */
export function desiredNotRunning(state: LoopState): StoreConfig | undefined {
  const decision = state.resolution?.decision;
  if (decision?.kind !== "configured") return undefined;
  const { applied } = state;
  return applied !== undefined && sameStore(applied.config, decision.config)
    ? undefined
    : decision.config;
}

/** An agent runs a checked config and is not crash-looping. */
function runsChecked(state: LoopState, agent: AgentSnapshot): boolean {
  return agent.running && isChecked(state.applied) && agent.state !== "BACKOFF";
}

function keepsRunning(state: LoopState): string {
  return state.applied
    ? `the agent keeps running ${state.applied.config.address}`
    : "no agent runs";
}

/** The running agent's last warning or error line, for a message that waits on it. */
function agentSays(agent: AgentSnapshot): string {
  return agent.lastWords ? `; the agent says: ${agent.lastWords.slice(0, 300)}` : "";
}

/** How the agent last exited, with its last words: what an operator reads first. */
function exitWords(agent: AgentSnapshot): string {
  const exit = agent.lastExit;
  const last = exit?.stderrTail.findLast((line) => line.trim() !== "")?.trim();
  const words = last ? `; its last line: ${last.slice(0, 300)}` : "";
  if (exit?.worker)
    return `the agent's worker exited (${exit.code}) while its parent lived on${words}`;
  const how = `exit ${exit?.code ?? "?"}${exit?.signal ? `, ${exit.signal}` : ""}`;
  return `the agent keeps exiting (${how}${words})`;
}

function baseView(state: LoopState, agent: AgentSnapshot, onRemoveKeep: boolean): View {
  const { applied, work, rejected, lastCheck } = state;
  const backoff = agent.state === "BACKOFF";
  const ready = runsChecked(state, agent);
  const running = keepsRunning(state);
  const crash = backoff ? `; ${exitWords(agent)} and is being restarted` : "";
  const external =
    (agent.error && !agent.problem ? `; ${agent.error}` : "") +
    (agent.notice ? `; ${agent.notice}` : "");
  if (work.kind === "stopped")
    return { phase: Phase.STOPPED, ready: false, message: "shutting down" };
  if (agent.problem && applied) {
    const p = agent.problem;
    const message = `${p.message}; ${p.hint}; retrying with backoff`;
    return { phase: Phase.DEGRADED, ready: false, message };
  }
  const decision = state.resolution?.decision;
  if (decision === undefined) {
    return {
      phase: Phase.WAITING_FOR_RELATION,
      ready,
      message: "reading relation data",
    };
  }
  if (decision.kind === "error") {
    const e = decision.error;
    return {
      phase: Phase.INVALID_INPUT,
      ready,
      message: `relation data in ${e.path} is invalid: ${e.message}; ${e.hint}; ${running}${crash}`,
    };
  }
  if (decision.kind === "unconfigured") {
    const stopped = agent.state === "STOPPING" || agent.state === "STOPPED";
    if (applied && stopped && !onRemoveKeep) {
      // From the moment the stop begins nothing says RUNNING; WAITING_FOR_RELATION once it is
      // done (nothing applied any more).
      const doing = agent.state === "STOPPING" ? "stopping the agent" : "the agent is stopped";
      return {
        phase: Phase.DEGRADED,
        ready: false,
        message: `no store is configured any more; ${doing}`,
      };
    }
    if (applied) {
      const message =
        work.kind === "removing"
          ? `no store is configured any more; ${running} during the grace period`
          : onRemoveKeep
            ? `no store is configured any more; ${running} (--on-remove keep)`
            : `no store is configured; ${running}`;
      return { phase: Phase.RUNNING, ready, message: `${message}${crash}` };
    }
    return {
      phase: Phase.WAITING_FOR_RELATION,
      ready: false,
      message: `waiting for relation data: ${decision.reason}`,
    };
  }
  const desired = decision.config;
  const isDesired = applied !== undefined && sameStore(applied.config, desired);
  if (rejected && sameStore(rejected.config, desired) && !isDesired) {
    return {
      phase: Phase.DEGRADED,
      ready,
      message: `rolled back from ${desired.address}: ${rejected.reason}; ${running}${crash}`,
    };
  }
  if (
    work.kind === "held" &&
    work.why === "apply" &&
    sameStore(work.config, desired) &&
    !isDesired
  ) {
    return {
      phase: Phase.DEGRADED,
      ready,
      message: `cannot apply ${desired.address}: ${work.message}; ${running}${crash}`,
    };
  }
  if ((work.kind === "checking" || work.kind === "applying") && !isDesired) {
    const doing =
      work.kind === "applying" && sameStore(work.config, desired)
        ? `applying ${desired.address} (its check is done)${agent.notice ? `: ${agent.notice}` : ""}`
        : `checking ${desired.address} before applying it`;
    return { phase: Phase.CHECKING, ready, message: `${doing}; ${running}` };
  }
  if (isDesired && isChecked(applied) && backoff && !applied.stayedUp) {
    return {
      phase: Phase.DEGRADED,
      ready: false,
      message: `the agent with ${desired.address} has not stayed up yet${crash}`,
    };
  }
  const delivery = state.delivery;
  if (isDesired && isChecked(applied) && delivery?.problem) {
    const p = delivery.problem;
    const message = `${p.message}${agentSays(agent)}; ${p.hint}; nothing to roll back to, the agent keeps running`;
    return { phase: Phase.DEGRADED, ready, message };
  }
  if (isDesired && isChecked(applied) && delivery?.state === "FAILING") {
    const code = delivery.lastFailureCode || "an error";
    const message = `the agent runs with ${desired.address} but its writes fail (${code})${crash}`;
    // A store outage must not make every node unready: readiness follows the running config.
    return { phase: Phase.DEGRADED, ready, message };
  }
  if (isDesired && isChecked(applied)) {
    const proof =
      applied.stage === "proving"
        ? `; waiting for the agent's first write to prove it${agentSays(agent)}`
        : "";
    return {
      phase: Phase.RUNNING,
      ready,
      message: `the agent runs with ${desired.address}${proof}${crash}${external}`,
    };
  }
  const check = lastCheck?.result;
  if (isDesired) {
    return {
      phase: Phase.DEGRADED,
      ready: false,
      message: `the agent runs ${desired.address} although its check failed (--unverified apply): ${hint(check?.diagnosis)}${crash}${external}`,
    };
  }
  const failed = check && !check.ok ? hint(check.diagnosis) : "its check has not passed yet";
  return {
    phase: Phase.DEGRADED,
    ready,
    message: `holding ${desired.address}: ${failed}; ${running}${crash}`,
  };
}
