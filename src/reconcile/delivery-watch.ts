import type { Launch } from "../agent/runner.js";
import { jittered } from "../core/backoff.js";
import { parseWriteCounts } from "../delivery/counts.js";
import type { Scrape } from "../delivery/scrape.js";
import { DeliveryTracker } from "../delivery/tracker.js";
import type { LoopEvent } from "../loop/events.js";

/** When the agent's metrics are read: every second for a minute after a start, then ~15 s. */
const SCRAPE = { fastMs: 1000, fastForMs: 60_000, slowMs: 15_000 } as const;

export interface DeliveryWatchOptions {
  /** The agent's /metrics; undefined: reading them is off. */
  readonly url: string | undefined;
  readonly scrape: (url: string) => Promise<Scrape>;
  readonly random?: () => number;
}

type Observed = Extract<LoopEvent, { type: "deliveryObserved" }>;

/**
 * Reads the running agent's metrics and tells the loop what they say, for one launch at a time.
 * It decides nothing: whether that proves a config is the loop's rule.
 */
export class DeliveryWatch {
  private tracker: DeliveryTracker | undefined;
  private launch: Launch | undefined;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: DeliveryWatchOptions,
    private readonly observed: (event: Observed) => void,
  ) {}

  /** A new agent runs `launch`; `expected`: its metrics should be there. */
  begin(launch: Launch, expected: boolean): void {
    this.stop();
    this.launch = launch;
    this.startedAt = Date.now();
    this.tracker = new DeliveryTracker(expected);
    this.publish(launch, this.tracker);
    if (this.options.url !== undefined) this.schedule(true);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.launch = undefined;
  }

  /** The next scrape: on the second while the start is fresh, then jittered ±20 %. */
  private schedule(fast: boolean): void {
    const delay = fast ? SCRAPE.fastMs : jittered(SCRAPE.slowMs, this.options.random);
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  private async tick(): Promise<void> {
    const { url } = this.options;
    const { launch, tracker } = this;
    if (url === undefined || launch === undefined || tracker === undefined) return;
    const result = await this.options.scrape(url);
    if (this.launch !== launch) return;
    const counts = result.kind === "answered" ? parseWriteCounts(result.text) : undefined;
    tracker.record(Date.now(), result.kind === "answered", counts);
    this.publish(launch, tracker);
    this.schedule(Date.now() - this.startedAt < SCRAPE.fastForMs);
  }

  private publish(launch: Launch, tracker: DeliveryTracker): void {
    this.observed(observedEvent(launch, tracker, { url: this.options.url ?? "" }));
  }
}

/**
 * What a tracker says of `launch`'s writes, as the loop's event; `seenBy` names where they were
 * seen: the agent's metrics (`url`), or the relay (`relay`, which sees every write: expected).
 */
export function observedEvent(
  launch: Launch,
  tracker: DeliveryTracker,
  seenBy: { readonly url: string } | { readonly relay: string },
): Observed {
  const { ok, failed } = tracker.totals;
  const lastOk = tracker.lastOkAt;
  const relay = "relay" in seenBy;
  return {
    type: "deliveryObserved",
    launch,
    proven: tracker.proven,
    // Only the agent's own metrics tell whether the next agent will export them.
    counted: !relay && tracker.counted,
    view: {
      state: tracker.state(Date.now()),
      ...(relay ? { url: "", relay: seenBy.relay } : { url: seenBy.url }),
      ok,
      failed,
      lastFailureCode: tracker.lastFailureCode,
      answered: tracker.answered,
      expected: tracker.expected,
      ...(lastOk !== undefined ? { lastOkAt: new Date(lastOk) } : {}),
    },
  };
}
