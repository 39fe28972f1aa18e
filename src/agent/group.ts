import { setTimeout as sleep } from "node:timers/promises";
import { cmdline, descendantsOf, groupMembers, isLive } from "./proc.js";

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

function signalOne(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** Whether a live (non-zombie) process is left in the group; kill(0) is cheap, /proc is not. */
function alive(pgid: number, thorough: boolean): boolean {
  if (!signalGroup(pgid, 0)) return false;
  return thorough ? groupMembers(pgid).length > 0 : true;
}

/** Whether anything of the group is still there once its leader (our child) has been reaped. */
export function groupRemains(pgid: number): boolean {
  return pgid > 1 && signalGroup(pgid, 0);
}

/**
 * Polls until `done()` holds (true) or `until` passes (false): quickly at first, then every
 * POLL_MS, and at once when `wake` settles (our own child's exit is the usual last event).
 */
async function pollUntil(
  done: () => boolean,
  until: number,
  wake?: Promise<unknown>,
): Promise<boolean> {
  let woken = false;
  void wake?.then(() => {
    woken = true;
  });
  for (let i = 0; ; i++) {
    if (done()) return true;
    if (Date.now() >= until) return done();
    const pause = sleep(i < FAST_POLLS ? 1 : POLL_MS);
    await (wake && !woken ? Promise.race([pause, wake]) : pause);
  }
}

/** The last argument of the agent's re-executed child, the process that does the work. */
export const WORKER_FLAG = "--telemetry-disable-panic-reporting";

/** The agent's worker among `candidates`: the re-executed child, its argv ending in WORKER_FLAG. */
export function workerAmong(candidates: readonly number[], agent: number): number | undefined {
  return candidates.find((pid) => pid !== agent && cmdline(pid)?.at(-1) === WORKER_FLAG);
}

/**
 * The group's worker, wherever it is: the leader's child (from whichever thread forked it),
 * a wrapper's grandchild, or — once the leader is gone — any member of the group.
 */
export function workerOf(pgid: number): number | undefined {
  const candidates = isLive(pgid) ? descendantsOf(pgid) : undefined;
  return workerAmong(candidates ?? groupMembers(pgid), pgid);
}

/**
 * Stops the agent's process group the way the real agent needs it, as systemd's
 * KillMode=mixed does. The agent's parent installs no signal handler and its worker's stderr
 * runs through the parent, so a group-wide SIGTERM kills the parent and then the worker at its
 * next log line. So: SIGTERM to the worker first (or to the leader when there is none); the
 * parent then gets a short grace to exit by itself, which ends the moment the leader exits;
 * once the leader has exited, whatever is left of the group (a wrapper's agent) gets SIGTERM at
 * once; SIGKILL to the group when `timeoutMs` has passed since the start. `leaderExit` settles
 * when the leader (our child) exits; without it, the leader is looked for in /proc. Resolves
 * with how it ended.
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
  let leaderExited = false;
  void leaderExit?.then(() => {
    leaderExited = true;
  });
  const leaderGone = () => leaderExited || !isLive(pgid);
  const groupGone = () => !alive(pgid, leaderGone());

  const worker = workerOf(pgid);
  signalOne(worker ?? pgid, "SIGTERM");
  if (worker !== undefined) {
    // The worker's own handler ends it; a leader that exits meanwhile ends the wait.
    await pollUntil(() => !isLive(worker) || leaderGone(), until, leaderExit);
    if (!leaderGone()) {
      // The parent exits by itself once its worker has.
      await pollUntil(leaderGone, Math.min(until, Date.now() + PARENT_GRACE_MS), leaderExit);
    }
  } else {
    await pollUntil(leaderGone, Math.min(until, Date.now() + PARENT_GRACE_MS), leaderExit);
  }
  if (groupGone()) return "terminated";
  // The leader has exited (or its grace is over): what is left gets SIGTERM now.
  signalGroup(pgid, "SIGTERM");
  if (await pollUntil(groupGone, until, leaderExit)) return "terminated";
  signalGroup(pgid, "SIGKILL");
  await pollUntil(groupGone, Date.now() + KILL_WAIT_MS, leaderExit);
  return "killed";
}

/** Waits until one process is gone (or a zombie), polling; false when the time ran out. */
export function waitPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  return pollUntil(() => !isLive(pid), Date.now() + timeoutMs);
}
