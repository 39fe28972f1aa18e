import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Problem, problem } from "../problem.js";
import { waitPidGone, workerAmong } from "./group.js";
import {
  allPids,
  cgroupOf,
  childrenOf,
  cmdline,
  isLive,
  pgidOf,
  ppidOf,
  startTimeOf,
} from "./proc.js";
import { readsConfigFile } from "./verify.js";

/**
 * The agent in another container of the pod (`--agent-process NAME`): the process whose argv[0]
 * has basename NAME and whose command line reads the sidecar's flags file as --config-path, and,
 * with the pod's UID known, whose cgroup names the pod. Under hostPID every container sees every
 * process of the node: all three keep another pod's agent out of reach.
 */
export interface PodAgentSpec {
  readonly name: string;
  readonly flagsFile: string;
  /** The pod's UID (downward API, POD_UID); its cgroup path carries it. */
  readonly podUid?: string;
}

export interface PodAgent {
  readonly pid: number;
  readonly startTime: string;
  readonly argv: readonly string[];
}

export type PodMatch =
  | { readonly kind: "one"; readonly agent: PodAgent }
  | { readonly kind: "none" }
  | { readonly kind: "many"; readonly pids: readonly number[] };

const POLL_MS = 200;

function inPod(pid: number, uid: string): boolean {
  const cgroup = cgroupOf(pid);
  // The systemd cgroup driver writes the UID with "_" for "-".
  return cgroup.includes(uid) || cgroup.includes(uid.replaceAll("-", "_"));
}

/** The pod's agent now: exactly one top-level matching process, none, or several. */
export function findPodAgent(spec: PodAgentSpec): PodMatch {
  const ownGroup = pgidOf(process.pid);
  const matching: PodAgent[] = [];
  for (const pid of allPids()) {
    if (pid <= 1 || pid === process.pid || pgidOf(pid) === ownGroup) continue;
    const argv = cmdline(pid);
    const startTime = startTimeOf(pid);
    if (argv === undefined || startTime === undefined || argv.length === 0) continue;
    if (basename(argv[0] as string) !== spec.name) continue;
    if (!readsConfigFile(argv, spec.flagsFile)) continue;
    if (spec.podUid !== undefined && !inPod(pid, spec.podUid)) continue;
    if (!isLive(pid)) continue;
    matching.push({ pid, startTime, argv });
  }
  // The re-executed worker matches too: the agent is the match whose parent is none.
  const pids = new Set(matching.map((m) => m.pid));
  const top = matching.filter((m) => !pids.has(ppidOf(m.pid) ?? 0));
  if (top.length === 0) return { kind: "none" };
  if (top.length > 1) return { kind: "many", pids: top.map((m) => m.pid) };
  return { kind: "one", agent: top[0] as PodAgent };
}

export function describe(spec: PodAgentSpec): string {
  return `--agent-process ${spec.name} (--config-path=${spec.flagsFile}${spec.podUid ? `, pod ${spec.podUid}` : ""})`;
}

export function ambiguous(spec: PodAgentSpec, pids: readonly number[]): Problem {
  return problem(
    "AGENT_AMBIGUOUS",
    `${pids.length} processes match ${describe(spec)} (pids ${pids.join(", ")}); none was signalled`,
    "give each agent its own --flags-file, and set POD_UID from the downward API so only this pod's agent matches",
  );
}

const same = (a: PodAgent, b: PodAgent) => a.pid === b.pid && a.startTime === b.startTime;

function signalIfSame(agent: { pid: number; startTime: string }, signal: NodeJS.Signals): void {
  // Pid and start time again right before the signal: a pid may have been reused meanwhile.
  if (startTimeOf(agent.pid) !== agent.startTime) return;
  try {
    process.kill(agent.pid, signal);
  } catch {
    // Gone meanwhile.
  }
}

/**
 * Stops the pod's agent the way it needs: SIGTERM to its worker (the re-executed child) or to
 * the process itself when it does not re-execute, so it shuts down gracefully and the parent
 * exits by itself; SIGKILL to what is left after `stopTimeoutMs`. Never signals a process
 * whose start time changed since it was found.
 */
export async function stopPodAgent(agent: PodAgent, stopTimeoutMs: number): Promise<void> {
  const workerPid = workerAmong(childrenOf(agent.pid) ?? [], agent.pid);
  const worker =
    workerPid === undefined
      ? undefined
      : { pid: workerPid, startTime: startTimeOf(workerPid) ?? "" };
  signalIfSame(worker ?? agent, "SIGTERM");
  if (await waitPidGone(agent.pid, stopTimeoutMs)) return;
  if (worker) signalIfSame(worker, "SIGKILL");
  signalIfSame(agent, "SIGKILL");
  await waitPidGone(agent.pid, 5000);
}

/**
 * Waits for the kubelet to start the agent again: a matching process other than `before`.
 * Undefined when `waitMs` passed or `signal` aborted; a problem when several match.
 */
export async function waitForPodAgent(
  spec: PodAgentSpec,
  before: PodAgent | undefined,
  waitMs: number,
  signal?: AbortSignal,
): Promise<PodAgent | Problem | undefined> {
  const until = Date.now() + waitMs;
  for (;;) {
    const found = findPodAgent(spec);
    if (found.kind === "one" && (before === undefined || !same(found.agent, before)))
      return found.agent;
    if (signal?.aborted) return undefined;
    // Several at once may be a moment of overlap: only the last look counts.
    if (Date.now() >= until) return found.kind === "many" ? ambiguous(spec, found.pids) : undefined;
    await sleep(POLL_MS);
  }
}

/** How the pod's agent is restarted: who it is, how long it gets to stop and to come back. */
export interface PodRestart extends PodAgentSpec {
  readonly stopTimeoutMs: number;
  readonly restartWaitMs: number;
}

/**
 * Restarts the pod's agent: stops it (its worker first) and waits — abortable — for the kubelet
 * to start it again, reading the new file; `waiting` says meanwhile what it waits for. Resolves
 * with what went wrong (AGENT_AMBIGUOUS, AGENT_NOT_RESTARTED), "aborted", or undefined.
 */
export async function restartPodAgent(
  pod: PodRestart,
  signal: AbortSignal | undefined,
  waiting: (what: string | undefined) => void,
): Promise<Problem | "aborted" | undefined> {
  const found = findPodAgent(pod);
  if (found.kind === "many") return ambiguous(pod, found.pids);
  const before = found.kind === "one" ? found.agent : undefined;
  if (before) await stopPodAgent(before, pod.stopTimeoutMs);
  waiting(
    `waiting for the kubelet to start the agent${before ? " again" : ""} (up to ${Math.round(pod.restartWaitMs / 1000)} s)`,
  );
  const next = await waitForPodAgent(pod, before, pod.restartWaitMs, signal).finally(() =>
    waiting(undefined),
  );
  if (signal?.aborted) return "aborted";
  if (next === undefined)
    return problem(
      "AGENT_NOT_RESTARTED",
      `no agent process matching ${describe(pod)} started within ${pod.restartWaitMs} ms`,
      "the kubelet starts the agent container again after a back-off of up to 5 minutes: look at the pod's events (kubectl describe pod); retried with backoff",
    );
  return "code" in next ? next : undefined;
}
