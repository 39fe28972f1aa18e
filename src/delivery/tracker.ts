import type { WriteCounts } from "./counts.js";

/** The windows that decide the delivery state, in one place. */
export const DELIVERY_WINDOWS = {
  /** DELIVERING while the OK count rose within this window. */
  deliveringMs: 5 * 60_000,
  /** FAILING when failures rose, and OK did not, within this window. */
  failingMs: 2 * 60_000,
} as const;

export type DeliveryStateName = "UNKNOWN" | "WAITING" | "DELIVERING" | "FAILING";

interface Sample {
  readonly at: number;
  readonly counts: WriteCounts;
}

/**
 * The agent's writes as its /metrics showed them over time, for one agent process (its counters
 * start at zero). `expected`: metrics are expected from this agent (an earlier agent on this
 * state dir exported the counters, or --agent-version was given).
 */
export class DeliveryTracker {
  private readonly samples: Sample[] = [];
  private lastOkRise: number | undefined;
  private lastFailureRise: number | undefined;
  private everAnswered = false;
  lastFailureCode = "";

  constructor(readonly expected: boolean) {}

  /** One scrape: answered with these counters (undefined: none exported yet), or not at all. */
  record(at: number, answered: boolean, counts: WriteCounts | undefined): void {
    if (!answered) return;
    this.everAnswered = true;
    if (counts === undefined) return;
    const before = this.samples.at(-1)?.counts ?? { ok: 0, failed: 0, failures: new Map() };
    if (counts.ok > before.ok) this.lastOkRise = at;
    if (counts.failed > before.failed) {
      this.lastFailureRise = at;
      let most = 0;
      for (const [code, n] of counts.failures) {
        const rose = n - (before.failures.get(code) ?? 0);
        if (rose > most) {
          most = rose;
          this.lastFailureCode = code;
        }
      }
    }
    this.samples.push({ at, counts });
    while (
      this.samples.length > 2 &&
      (this.samples[1]?.at ?? at) < at - DELIVERY_WINDOWS.deliveringMs
    )
      this.samples.shift();
  }

  get answered(): boolean {
    return this.everAnswered;
  }

  /** The agent exported a write counter: the next agent on this state dir is expected to. */
  get counted(): boolean {
    return this.samples.length > 0;
  }

  /** An OK write proved the config. */
  get proven(): boolean {
    return this.lastOkRise !== undefined;
  }

  get lastOkAt(): number | undefined {
    return this.lastOkRise;
  }

  get totals(): { ok: number; failed: number } {
    const last = this.samples.at(-1)?.counts;
    return { ok: last?.ok ?? 0, failed: last?.failed ?? 0 };
  }

  state(now: number): DeliveryStateName {
    const okRecently = (within: number) =>
      this.lastOkRise !== undefined && this.lastOkRise >= now - within;
    if (okRecently(DELIVERY_WINDOWS.deliveringMs)) return "DELIVERING";
    const failedRecently =
      this.lastFailureRise !== undefined &&
      this.lastFailureRise >= now - DELIVERY_WINDOWS.failingMs;
    if (failedRecently && !okRecently(DELIVERY_WINDOWS.failingMs)) return "FAILING";
    return this.expected || this.everAnswered ? "WAITING" : "UNKNOWN";
  }
}
