import { setTimeout as sleep } from "node:timers/promises";
import { groupMembers } from "./proc.js";

const POLL_MS = 25;
/** The first polls come quickly: an agent that honours SIGTERM is usually gone within a few ms. */
const FAST_POLLS = 20;
/** How long to wait for the kernel to take a SIGKILLed group away. */
const KILL_WAIT_MS = 5000;

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
    // Zombies answer kill(0) until reaped: every tenth poll asks /proc for live members.
    if (!alive(pgid, i % 10 === 9)) return true;
    if (Date.now() >= until) return !alive(pgid, true);
    const pause = sleep(i < FAST_POLLS ? 1 : POLL_MS);
    // Our own child's exit is the usual last event: look again right then, not a poll later.
    await (leaderExit && !leaderGone ? Promise.race([pause, leaderExit]) : pause);
  }
}

/**
 * Stops a whole process group: SIGTERM to the group, SIGKILL to the group after `timeoutMs`.
 * The agent re-executes itself as a child and its parent installs no signal handler, so
 * signalling only the leader would orphan the real agent. `leaderExit`, when the group leader is
 * our child, settles as it exits. Resolves with how it ended.
 */
export async function stopGroup(
  pgid: number,
  timeoutMs: number,
  leaderExit?: Promise<unknown>,
): Promise<"none" | "terminated" | "killed"> {
  if (pgid <= 1 || pgid === process.pid)
    throw new Error(`refusing to signal process group ${pgid}`);
  if (!alive(pgid, false)) return "none";
  signalGroup(pgid, "SIGTERM");
  if (await waitGone(pgid, timeoutMs, leaderExit)) return "terminated";
  signalGroup(pgid, "SIGKILL");
  await waitGone(pgid, KILL_WAIT_MS, leaderExit);
  return "killed";
}
