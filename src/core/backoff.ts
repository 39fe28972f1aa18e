/** Exponential backoff: doubling from `initialMs`, capped at `maxMs`, with ±20 % jitter. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Uptime (or quiet time) after which the next attempt starts from `initialMs` again. */
  readonly resetAfterMs: number;
}

/** 1 s doubling to 60 s, reset after 60 s: the agent's crash restarts and the check's retries. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 };

/** `ms` spread by ±`fraction` (20 % by default), so that a fleet does not act in step. */
export function jittered(ms: number, random = Math.random, fraction = 0.2): number {
  return Math.round(ms * (1 - fraction + 2 * fraction * random()));
}

/** The delay before attempt number `attempt` (0-based): doubling, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, backoff: Backoff, random = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.min(backoff.maxMs, jittered(base, random));
}

/**
 * One retry timer with its attempt counter: `schedule` waits the next backoff delay, `reset`
 * starts the counting again (after a success), `cancel` drops a retry not run yet but keeps the count.
 */
export class RetryTimer {
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly backoff: Backoff) {}

  /** How many attempts were scheduled since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** Runs `work` after the next delay (replacing one not run yet); returns the delay. */
  schedule(work: () => void): number {
    this.cancel();
    const delayMs = backoffDelay(this.attempt++, this.backoff);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      work();
    }, delayMs);
    return delayMs;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  reset(): void {
    this.cancel();
    this.attempt = 0;
  }
}

/**
 * Runs `work` about every `periodMs` (±`jitter`, 20 % by default), so that a fleet of sidecars
 * started together does not hammer one store in step. Returns the function that stops it.
 */
export function everyJittered(
  periodMs: number,
  work: () => void,
  {
    jitter = 0.2,
    random = Math.random,
    unref = false,
  }: { jitter?: number; random?: () => number; unref?: boolean } = {},
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    const delay = jittered(periodMs, random, jitter);
    timer = setTimeout(() => {
      work();
      next();
    }, delay);
    // A timer that must not keep the process alive on its own.
    if (unref) timer.unref();
  };
  next();
  return () => clearTimeout(timer);
}
