import { workerOf } from "./group.js";
import { isLive } from "./proc.js";

/**
 * How often the group is searched for the worker: quickly for the first seconds (an agent whose
 * store answers re-executes at once), then every 2 s — the real agent re-executes only after its
 * first dial, which may take minutes, and each search reads /proc (searching every 250 ms cost an
 * idle sidecar ~70 ms of CPU per 30 s). The parent's "Subprocess completed" line reports a
 * worker's exit at once anyway; this watch is for a worker that ends without it.
 */
const SEARCH_MS = 250;
const SEARCH_SLOW_MS = 2000;
const SEARCH_FAST_FOR_MS = 5000;
/** How often a seen worker is looked at. */
const LIVE_MS = 1000;

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
