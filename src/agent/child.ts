import { execa, type ResultPromise } from "execa";
import { errnoCode } from "../core/errors.js";
import { type Problem, problem } from "../problem.js";
import type { Secrets } from "../secrets.js";
import { forwardOutput, isTrouble, type OutputSink } from "./output.js";
import { STATE_MARKER } from "./pidfile.js";
import type { Launch } from "./runner.js";

/** The real parent's line when its worker has ended (logrus, text or JSON), with the code. */
const WORKER_DONE = /Subprocess completed .* exit: (-?\d+)/;

/** One started agent: its leader (our child, the group's leader) and what became of it. */
export interface Child {
  readonly process: ResultPromise;
  readonly pgid: number;
  readonly launch: Launch;
  readonly startedAt: Date;
  /** Set when the sidecar asked it to stop, or its worker's exit was reported: its exit is not a crash. */
  stopping: boolean;
  /** The worker's exit was the agent's exit: the leader's later exit changes nothing. */
  workerExited: boolean;
  /** Ends the watch on its worker. */
  unwatch: () => void;
  /** Settles when the leader has exited (before its output has been read to the end). */
  readonly exited: Promise<void>;
  /** Settles when the exit was handled: output read, exit recorded. */
  readonly done: Promise<void>;
}

/** The agent's environment: the sidecar's marker added, the launch's unsets removed. */
export function agentEnv(
  base: NodeJS.ProcessEnv,
  stateDir: string,
  launch: Launch,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, [STATE_MARKER]: stateDir };
  for (const name of launch.unsetEnv) delete env[name];
  return env;
}

/**
 * Forwards the agent's output (see forwardOutput) and tells what its stderr says: the parent's
 * word that its worker ended (before it reports that to the store), and every line of trouble.
 */
export function readAgentOutput(
  subprocess: ResultPromise,
  secrets: Secrets,
  sink: OutputSink,
  tail: string[],
  on: { workerEnded: (code: number) => void; trouble: (line: string) => void },
): void {
  forwardOutput(subprocess, secrets, sink, tail, (line) => {
    const ended = WORKER_DONE.exec(line);
    if (ended) on.workerEnded(Number(ended[1]));
    if (isTrouble(line)) on.trouble(line);
  });
}

/** Starts the agent in its own process group, no shell, its output piped to us. */
export function spawnAgent(
  agentPath: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ResultPromise {
  return execa(agentPath, [...argv], {
    env,
    extendEnv: false,
    detached: true,
    cleanup: false,
    reject: false,
    buffer: false,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Why a spawn that got no pid failed (AGENT_START_FAILED). */
export async function startFailure(agentPath: string, subprocess: ResultPromise): Promise<Problem> {
  const result = await subprocess;
  const why = errnoCode(result.cause) || result.originalMessage || result.shortMessage;
  return problem(
    "AGENT_START_FAILED",
    `cannot start ${agentPath}: ${why}`,
    "check --agent: the path, that it is executable by the sidecar's user, and that it is built for this machine",
  );
}
