import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AgentSnapshot, AgentState as RunnerState } from "../agent/runner.js";
import {
  AgentSchema,
  AgentState,
  DeliverySchema,
  DeliveryState,
  ExitSchema,
  Phase,
  SourceSchema,
  type Status,
  StatusSchema,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { checkResultMessage, problemMessage, storeMessage } from "../messages.js";
import { type Problem, problem } from "../problem.js";
import { sameStore } from "../relation/types.js";
import type { DeliveryView, LoopState } from "./state.js";

const AGENT_STATES: Record<RunnerState, AgentState> = {
  STOPPED: AgentState.STOPPED,
  STARTING: AgentState.STARTING,
  RUNNING: AgentState.RUNNING,
  STOPPING: AgentState.STOPPING,
  BACKOFF: AgentState.BACKOFF,
  EXTERNAL: AgentState.EXTERNAL,
};

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
  const v = baseView(state, agent, onRemoveKeep);
  if (state.stateError === undefined || state.work.kind === "stopped") return v;
  return {
    ...v,
    message: `${v.message}; cannot persist the last-known-good config (${state.stateError})`,
  };
}

function baseView(state: LoopState, agent: AgentSnapshot, onRemoveKeep: boolean): View {
  const { applied, work, rejected, lastCheck } = state;
  const runs = agent.running && applied !== undefined;
  const backoff = agent.state === "BACKOFF";
  const runsChecked = runs && applied.checked && !backoff;
  const running = applied ? `the agent keeps running ${applied.config.address}` : "no agent runs";
  const crash = backoff
    ? `; the agent keeps exiting (exit ${agent.lastExit?.code ?? "?"}${agent.lastExit?.signal ? `, ${agent.lastExit.signal}` : ""}) and is being restarted`
    : "";
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
      ready: runsChecked,
      message: "reading relation data",
    };
  }
  if (decision.kind === "error") {
    const e = decision.error;
    return {
      phase: Phase.INVALID_INPUT,
      ready: runsChecked,
      message: `relation data in ${e.path} is invalid: ${e.message}; ${e.hint}; ${running}${crash}`,
    };
  }
  if (decision.kind === "unconfigured") {
    if (applied) {
      const message =
        work.kind === "removing"
          ? `no store is configured any more; ${running} during the grace period`
          : onRemoveKeep
            ? `no store is configured any more; ${running} (--on-remove keep)`
            : `no store is configured; ${running}`;
      return { phase: Phase.RUNNING, ready: runsChecked, message: `${message}${crash}` };
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
      ready: runsChecked,
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
      ready: runsChecked,
      message: `cannot apply ${desired.address}: ${work.message}; ${running}${crash}`,
    };
  }
  if ((work.kind === "checking" || work.kind === "applying") && !isDesired) {
    const doing =
      work.kind === "applying" && sameStore(work.config, desired)
        ? `applying ${desired.address} (its check is done)`
        : `checking ${desired.address} before applying it`;
    return { phase: Phase.CHECKING, ready: runsChecked, message: `${doing}; ${running}` };
  }
  if (isDesired && applied.checked && backoff && !applied.stayedUp) {
    return {
      phase: Phase.DEGRADED,
      ready: false,
      message: `the agent with ${desired.address} has not stayed up yet${crash}`,
    };
  }
  const delivery = state.delivery;
  if (isDesired && applied.checked && delivery?.problem) {
    const p = delivery.problem;
    const message = `${p.message}; ${p.hint}; nothing to roll back to, the agent keeps running`;
    return { phase: Phase.DEGRADED, ready: runsChecked, message };
  }
  if (isDesired && applied.checked && delivery?.state === "FAILING") {
    const code = delivery.lastFailureCode || "an error";
    const message = `the agent runs with ${desired.address} but its writes fail (${code})${crash}`;
    // A store outage must not make every node unready: readiness follows the running config.
    return { phase: Phase.DEGRADED, ready: runsChecked, message };
  }
  if (isDesired && applied.checked) {
    const proof = applied.pending ? "; waiting for the agent's first write to prove it" : "";
    return {
      phase: Phase.RUNNING,
      ready: runsChecked,
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
    ready: runsChecked,
    message: `holding ${desired.address}: ${failed}; ${running}${crash}`,
  };
}

const DELIVERY_STATES = {
  UNKNOWN: DeliveryState.UNKNOWN,
  WAITING: DeliveryState.WAITING,
  DELIVERING: DeliveryState.DELIVERING,
  FAILING: DeliveryState.FAILING,
} as const;

function deliveryMessage(d: DeliveryView) {
  return create(DeliverySchema, {
    state: DELIVERY_STATES[d.state],
    metricsUrl: d.url,
    okWrites: BigInt(Math.round(d.ok)),
    failedWrites: BigInt(Math.round(d.failed)),
    lastFailureCode: d.lastFailureCode,
    ...(d.lastOkAt ? { lastOkAt: timestampFromDate(d.lastOkAt) } : {}),
    ...(d.problem ? { problem: problemMessage(d.problem) } : {}),
  });
}

/** The full `parca.sidecar.v1.Status`. */
export function buildStatus(
  state: LoopState,
  agent: AgentSnapshot,
  v: View,
  watchProblems: readonly Problem[],
): Status {
  const sources = (state.resolution?.sources ?? []).map((s) => {
    const missing = state.missing.filter((p) => p.path === s.path);
    const watch = watchProblems.filter((p) => p.path === s.path || s.path.startsWith(`${p.path}/`));
    return create(SourceSchema, {
      path: s.path,
      configured: s.configured,
      ...(s.error ? { error: problemMessage(s.error) } : {}),
      warnings: [...missing, ...s.warnings, ...watch].map(problemMessage),
    });
  });
  const decision = state.resolution?.decision;
  const lastExit = agent.lastExit;
  return create(StatusSchema, {
    phase: v.phase,
    sources,
    ...(decision?.kind === "configured" ? { desired: storeMessage(decision.config) } : {}),
    ...(state.applied && agent.running ? { applied: storeMessage(state.applied.config) } : {}),
    ...(state.lastCheck ? { lastCheck: checkResultMessage(state.lastCheck.result) } : {}),
    agent: create(AgentSchema, {
      state: AGENT_STATES[agent.state],
      pid: agent.pid,
      restarts: agent.restarts,
      ...(agent.startedAt ? { startedAt: timestampFromDate(agent.startedAt) } : {}),
      ...(lastExit
        ? {
            lastExit: create(ExitSchema, {
              code: lastExit.code,
              signal: lastExit.signal,
              at: timestampFromDate(lastExit.at),
              stderrTail: [...lastExit.stderrTail],
            }),
          }
        : {}),
      ...(agent.problem ? { problem: problemMessage(agent.problem) } : {}),
    }),
    ...(state.delivery ? { delivery: deliveryMessage(state.delivery) } : {}),
    agentArgs: agent.running ? [...agent.args] : [],
    message: v.message,
    ...(state.appliedCheck ? { appliedCheck: checkResultMessage(state.appliedCheck) } : {}),
    ...(state.rejected
      ? {
          rejected: problemMessage(
            problem(
              state.rejected.code,
              `rolled back: ${state.rejected.reason}`,
              state.rejected.hint,
            ),
          ),
        }
      : {}),
  });
}
