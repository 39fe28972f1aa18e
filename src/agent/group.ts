import { setTimeout as sleep } from "node:timers/promises";
import { groupMembers } from "./proc.js";

const POLL_MS = 25;
/** How long to wait for the kernel to take a SIGKILLed group away. */
const KILL_WAIT_MS = 5000;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

async function waitGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (groupMembers(pgid).length === 0) return true;
    if (Date.now() >= until) return false;
    await sleep(POLL_MS);
  }
}

/**
 * Stops a whole process group: SIGTERM to the group, SIGKILL to the group after `timeoutMs`.
 * The agent re-executes itself as a child and its parent installs no signal handler, so
 * signalling only the leader would orphan the real agent. Resolves with how it ended.
 */
export async function stopGroup(
  pgid: number,
  timeoutMs: number,
): Promise<"none" | "terminated" | "killed"> {
  if (pgid <= 1 || pgid === process.pid)
    throw new Error(`refusing to signal process group ${pgid}`);
  if (groupMembers(pgid).length === 0) return "none";
  signalGroup(pgid, "SIGTERM");
  if (await waitGone(pgid, timeoutMs)) return "terminated";
  signalGroup(pgid, "SIGKILL");
  await waitGone(pgid, KILL_WAIT_MS);
  return "killed";
}
