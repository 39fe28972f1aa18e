import { setTimeout as sleep } from "node:timers/promises";
import { childrenOf, cmdline, groupMembers, isLive } from "./proc.js";

const POLL_MS = 25;
/** The first polls come quickly: an agent that honours SIGTERM is usually gone within a few ms. */
const FAST_POLLS = 20;
/** How long to wait for the kernel to take a SIGKILLed group away. */
const KILL_WAIT_MS = 5000;
/** How long the agent's parent gets to exit by itself after its worker has. */
const PARENT_GRACE_MS = 1000;

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/** Whether a live (non-zombie) process is left in the group; kill(0) is cheap, /proc is not. */
function alive(pgid: number, thorough: boolean): boolean {
  if (!signalGroup(pgid, 0)) return false;
  return thorough ? groupMembers(pgid).length > 0 : true;
}

async function waitGone(
  pgid: number,
  timeoutMs: number,
  leaderExit?: Promise<unknown>,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let leaderGone = false;
  void leaderExit?.then(() => {
    leaderGone = true;
  });
  for (let i = 0; ; i++) {
    // Zombies answer kill(0) until reaped (an orphan's by init, which may take its time): every
    // tenth poll, and every poll once our own child (the leader) has exited, asks /proc for
    // live members.
    if (!alive(pgid, leaderGone || i % 10 === 9)) return true;
    if (Date.now() >= until) return !alive(pgid, true);
    const pause = sleep(i < FAST_POLLS ? 1 : POLL_MS);
    // Our own child's exit is the usual last event: look again right then, not a poll later.
    await (leaderExit && !leaderGone ? Promise.race([pause, leaderExit]) : pause);
  }
}

/** The last argument of the agent's re-executed child, the process that does the work. */
export const WORKER_FLAG = "--telemetry-disable-panic-reporting";

function signalOne(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** The agent's worker among `candidates`: the re-executed child, its argv ending in WORKER_FLAG. */
export function workerAmong(candidates: readonly number[], agent: number): number | undefined {
  return candidates.find((pid) => pid !== agent && cmdline(pid)?.at(-1) === WORKER_FLAG);
}

/** The group's worker (the re-executed child), if it has one besides its leader. */
function workerOf(pgid: number): number | undefined {
  // The leader's children, cheaply; all of /proc only where the kernel does not list them.
  return workerAmong(childrenOf(pgid) ?? groupMembers(pgid), pgid);
}

/**
 * Stops the agent's process group the way the real agent needs it. Its parent installs no
 * signal handler and its worker's stderr runs through the parent, so a group-wide SIGTERM
 * kills the parent and then the worker at its next log line, before it has flushed its
 * profiles. So: SIGTERM to the worker first (or to the leader when it does not re-execute), and
 * the parent exits by itself once its worker has; then SIGTERM to whatever remains, and
 * SIGKILL to the group once `timeoutMs` has passed since the start. `leaderExit` settles when
 * the leader (our child) exits. Resolves with how it ended.
 */
export async function stopAgentGroup(
  pgid: number,
  timeoutMs: number,
  leaderExit?: Promise<unknown>,
): Promise<"none" | "terminated" | "killed"> {
  if (pgid <= 1 || pgid === process.pid)
    throw new Error(`refusing to signal process group ${pgid}`);
  if (!alive(pgid, false)) return "none";
  const until = Date.now() + timeoutMs;
  const left = () => Math.max(0, until - Date.now());
  const worker = workerOf(pgid);
  signalOne(worker ?? pgid, "SIGTERM");
  if (worker !== undefined) await waitPidGone(worker, left());
  // The parent exits by itself once its worker has.
  if (await waitGone(pgid, Math.min(PARENT_GRACE_MS, left()), leaderExit)) return "terminated";
  signalGroup(pgid, "SIGTERM");
  if (await waitGone(pgid, left(), leaderExit)) return "terminated";
  signalGroup(pgid, "SIGKILL");
  await waitGone(pgid, KILL_WAIT_MS, leaderExit);
  return "killed";
}

/** Waits until one process is gone (or a zombie), polling; false when the time ran out. */
export async function waitPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (!isLive(pid)) return true;
    if (Date.now() >= until) return false;
    await sleep(i < FAST_POLLS ? 1 : POLL_MS);
  }
}

/**
 * What is left of a group whose leader exited by itself gets `timeoutMs` to exit too; then it
 * is stopped (SIGTERM, SIGKILL after another `timeoutMs`).
 */
export async function reapGroup(
  pgid: number,
  timeoutMs: number,
): Promise<"none" | "exited" | "terminated" | "killed"> {
  if (!alive(pgid, true)) return "none";
  if (await waitGone(pgid, timeoutMs)) return "exited";
  return stopAgentGroup(pgid, timeoutMs);
}
