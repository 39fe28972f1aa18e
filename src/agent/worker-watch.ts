import { workerOf } from "./group.js";
import { isLive } from "./proc.js";

/** How often the group is searched for the worker at first, and later. */
const SEARCH_MS = 250;
const SEARCH_SLOW_MS = 2000;
/** The real agent re-executes itself only after its first dial, which may take minutes. */
const SEARCH_FAST_FOR_MS = 60_000;
/** How often a seen worker is looked at. */
const LIVE_MS = 500;

/**
 * Watches a started agent's group for its worker (the re-executed child, anywhere in the
 * group), then for that worker's exit: the agent's parent may linger for minutes after it
 * (it reports the failure to the store), so the worker's exit is the agent's exit.
 * `onExit` is called once; the returned function ends the watch.
 */
export function watchWorker(
  pgid: number,
  onSeen: (worker: number) => void,
  onExit: () => void,
): () => void {
  const started = Date.now();
  let worker: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (ms: number) => {
    timer = setTimeout(look, ms);
    timer.unref();
  };
  const look = () => {
    if (worker === undefined) {
      worker = isLive(pgid) ? workerOf(pgid) : undefined;
      if (worker !== undefined) onSeen(worker);
    } else if (!isLive(worker)) {
      onExit();
      return;
    }
    if (worker !== undefined) schedule(LIVE_MS);
    else schedule(Date.now() - started < SEARCH_FAST_FOR_MS ? SEARCH_MS : SEARCH_SLOW_MS);
  };
  schedule(SEARCH_MS);
  return () => clearTimeout(timer);
}
