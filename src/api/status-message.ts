import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AgentSnapshot, AgentState as RunnerState } from "../agent/runner.js";
import {
  AgentSchema,
  AgentState,
  DeliverySchema,
  DeliveryState,
  ExitSchema,
  SourceSchema,
  type Status,
  StatusSchema,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import type { DeliveryView, LoopState } from "../loop/state.js";
import type { View } from "../loop/view.js";
import { type Problem, problem } from "../problem.js";
import { checkResultMessage, problemMessage, storeMessage } from "./messages.js";

const AGENT_STATES: Record<RunnerState, AgentState> = {
  STOPPED: AgentState.STOPPED,
  STARTING: AgentState.STARTING,
  RUNNING: AgentState.RUNNING,
  STOPPING: AgentState.STOPPING,
  BACKOFF: AgentState.BACKOFF,
  EXTERNAL: AgentState.EXTERNAL,
};

/** What the status says of the sidecar itself. */
export interface SidecarFacts {
  readonly version: string;
  readonly startedAt: Date;
  /** Since when the phase has held. */
  readonly phaseSince: Date;
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
    relay: d.relay ?? "",
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
  facts?: SidecarFacts,
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
      crashes: agent.crashes ?? 0,
      lastWords: agent.lastWords ?? "",
      ...(agent.startedAt ? { startedAt: timestampFromDate(agent.startedAt) } : {}),
      ...(lastExit
        ? {
            lastExit: create(ExitSchema, {
              code: lastExit.code,
              signal: lastExit.signal,
              at: timestampFromDate(lastExit.at),
              stderrTail: [...lastExit.stderrTail],
              planned: lastExit.planned === true,
              worker: lastExit.worker === true,
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
    ready: v.ready,
    ...(facts
      ? {
          version: facts.version,
          sidecarStartedAt: timestampFromDate(facts.startedAt),
          phaseSince: timestampFromDate(facts.phaseSince),
        }
      : {}),
    paused: state.paused !== undefined,
  });
}
