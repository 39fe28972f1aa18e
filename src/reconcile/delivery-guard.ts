import type { Logger } from "pino";
import type { Launch } from "../agent/runner.js";
import { jittered } from "../core/backoff.js";
import { parseWriteCounts } from "../delivery/counts.js";
import type { Scrape } from "../delivery/scrape.js";
import { DeliveryTracker } from "../delivery/tracker.js";
import { type Problem, problem } from "../problem.js";
import type { LoopMachine } from "./machine.js";

/** When the agent's metrics are read: every second for a minute after a start, then ~15 s. */
const SCRAPE = { fastMs: 1000, fastForMs: 60_000, slowMs: 15_000 } as const;

export interface DeliveryGuardOptions {
  /** The agent's /metrics; undefined: reading them is off. */
  readonly url: string | undefined;
  /** How long a newly applied config has to prove itself with an OK write. */
  readonly timeoutMs: number;
  /** Metrics are expected from the start (--agent-version given). */
  readonly expected: boolean;
  /** Whether an earlier agent on this state dir exported the write counters; remembers it. */
  readonly memory: { seen(): Promise<boolean>; markSeen(): Promise<void> };
  readonly scrape: (url: string) => Promise<Scrape>;
  readonly log: Logger;
  readonly random?: () => number;
}

/** Reading the agent's metrics off: no config has to prove itself. */
export const DELIVERY_OFF: Omit<DeliveryGuardOptions, "log"> = {
  url: undefined,
  timeoutMs: 0,
  expected: false,
  memory: { seen: async () => false, markSeen: async () => undefined },
  scrape: async () => ({ kind: "unreachable", error: "off" }),
};

/** What the guard found about a pending config. */
export type Verdict =
  | { readonly kind: "proven" }
  /** Not proven in time, but no metrics were expected or seen: nothing to hold against it. */
  | { readonly kind: "unknown" }
  | { readonly kind: "failed"; readonly problem: Problem };

/**
 * Watches whether the agent delivers, from its own metrics, and decides for a newly applied
 * (pending) config: proven by an OK write, or, after --delivery-timeout-ms, failed — with
 * failed writes, with /metrics never answering, or with no write at all.
 */
export class DeliveryGuard {
  private tracker: DeliveryTracker | undefined;
  private launch: Launch | undefined;
  private pending = false;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private seenBefore = false;
  /** Why the current launch was not proven. */
  private problem: Problem | undefined;

  constructor(
    private readonly machine: LoopMachine,
    private readonly options: DeliveryGuardOptions,
    private readonly onVerdict: (launch: Launch, verdict: Verdict) => void,
  ) {}

  async load(): Promise<void> {
    this.seenBefore = await this.options.memory.seen().catch(() => false);
  }

  /** Whether a new config has to prove itself: metrics are read, and expected from the agent. */
  expectsProof(): boolean {
    return this.options.url !== undefined && (this.options.expected || this.seenBefore);
  }

  /** A new agent runs `launch`; `pending`: it has to prove itself. */
  begin(launch: Launch, { pending }: { readonly pending: boolean }): void {
    this.stop();
    this.launch = launch;
    this.pending = pending;
    this.startedAt = Date.now();
    this.problem = undefined;
    this.tracker = new DeliveryTracker(this.options.expected || this.seenBefore);
    this.publish();
    if (this.options.url === undefined) {
      if (pending) this.settle({ kind: "unknown" });
      return;
    }
    this.schedule(true);
    if (pending) this.deadline = setTimeout(() => this.onDeadline(), this.options.timeoutMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.timer = undefined;
    this.deadline = undefined;
    this.launch = undefined;
  }

  /** The next scrape: on the second while the start is fresh, then jittered ±20 %. */
  private schedule(fast: boolean): void {
    const delay = fast ? SCRAPE.fastMs : jittered(SCRAPE.slowMs, this.options.random);
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  private async tick(): Promise<void> {
    const { url } = this.options;
    const launch = this.launch;
    const tracker = this.tracker;
    if (url === undefined || launch === undefined || tracker === undefined) return;
    const result = await this.options.scrape(url);
    if (this.launch !== launch) return;
    const counts = result.kind === "answered" ? parseWriteCounts(result.text) : undefined;
    tracker.record(Date.now(), result.kind === "answered", counts);
    if (tracker.counted && !this.seenBefore) {
      this.seenBefore = true;
      await this.options.memory.markSeen().catch(() => undefined);
    }
    this.publish();
    if (this.pending && tracker.proven) this.settle({ kind: "proven" });
    this.schedule(Date.now() - this.startedAt < SCRAPE.fastForMs);
  }

  private onDeadline(): void {
    const tracker = this.tracker;
    if (!this.pending || tracker === undefined || tracker.proven) return;
    const { expected } = tracker;
    if (tracker.totals.failed > 0) {
      this.fail(
        problem(
          "AGENT_WRITES_FAILING",
          `the agent's writes to the store fail (${tracker.lastFailureCode || "an error"}), and none succeeded within ${this.options.timeoutMs} ms`,
          "the store refuses the agent's data (a quota, a disabled tenant, a token it does not accept): fix it at the store or in the relation data",
        ),
      );
    } else if (expected && !tracker.answered) {
      this.fail(
        problem(
          "AGENT_NOT_CONNECTED",
          `the agent's metrics (${this.options.url}) never answered within ${this.options.timeoutMs} ms: it did not reach the store`,
          "the agent may not trust the store's CA (give it to the node's system roots, not only --ca-file) or cannot reach it; check the agent's log",
        ),
      );
    } else if (expected || tracker.answered) {
      this.fail(
        problem(
          "AGENT_NOT_DELIVERING",
          `the agent wrote nothing within ${this.options.timeoutMs} ms`,
          "check the agent's log (eBPF, permissions) and that it profiles anything",
        ),
      );
    } else {
      this.settle({ kind: "unknown" });
    }
  }

  private fail(p: Problem): void {
    this.options.log.warn({ event: "delivery_failed", code: p.code }, p.message);
    this.settle({ kind: "failed", problem: p });
  }

  private settle(verdict: Verdict): void {
    const launch = this.launch;
    if (!this.pending || launch === undefined) return;
    this.pending = false;
    clearTimeout(this.deadline);
    if (verdict.kind === "failed") this.problem = verdict.problem;
    this.publish();
    this.onVerdict(launch, verdict);
  }

  /** Commits the delivery view for status. */
  private publish(): void {
    const tracker = this.tracker;
    if (tracker === undefined) return;
    const { ok, failed } = tracker.totals;
    const lastOk = tracker.lastOkAt;
    const kept = this.problem;
    this.machine.commit({
      delivery: {
        state: tracker.state(Date.now()),
        url: this.options.url ?? "",
        ok,
        failed,
        lastFailureCode: tracker.lastFailureCode,
        ...(lastOk !== undefined ? { lastOkAt: new Date(lastOk) } : {}),
        ...(kept ? { problem: kept } : {}),
      },
    });
  }
}
