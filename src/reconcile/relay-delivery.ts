import type { Launch } from "../agent/runner.js";
import type { WriteCounts } from "../delivery/counts.js";
import { DeliveryTracker } from "../delivery/tracker.js";
import type { LoopEvent } from "../loop/events.js";
import type { RelayCall } from "../relay/relay.js";
import { observedEvent } from "./delivery-watch.js";

/** Go's names of the gRPC codes, by number: what the agent's own metrics call them. */
const GO_CODES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** The agent's writes: the Write stream (older agents), WriteArrow (v0.48+) and WriteRaw. */
const WRITES = new Set(
  ["Write", "WriteArrow", "WriteRaw"].map(
    (method) => `/parca.profilestore.v1alpha1.ProfileStoreService/${method}`,
  ),
);

/**
 * Go's name of a gRPC status code. A call that ended without one (the store reset it, or could
 * not be reached: the relay answered UNAVAILABLE) counts as Unavailable.
 */
export function goCodeName(status: number | undefined): string {
  if (status === undefined) return "Unavailable";
  return GO_CODES[status] ?? `Code(${status})`;
}

/**
 * Subscribes to the calls the relay carries for the launches the sidecar applied: each as it
 * starts (`ended` undefined) and as it ends.
 */
export type RelayCalls = (
  listener: (launch: Launch, path: string, ended?: RelayCall) => void,
) => () => void;

type Observed = Extract<LoopEvent, { type: "deliveryObserved" }>;

/** How often the view is refreshed without new calls: DELIVERING turns WAITING as writes stop. */
const REFRESH_MS = 15_000;

/**
 * Delivery as the relay sees it, for one launch at a time: every write's gRPC status, exact —
 * no scraping. Any call at all says the agent reached the relay. It decides nothing.
 */
export class RelayDeliveryWatch {
  private launch: Launch | undefined;
  private tracker: DeliveryTracker | undefined;
  private counts: { ok: number; failed: number; failures: Map<string, number> } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly address: string,
    calls: RelayCalls,
    private readonly observed: (event: Observed) => void,
  ) {
    // For the sidecar's life, as the runner that feeds it.
    calls((launch, path, ended) => this.record(launch, path, ended));
  }

  begin(launch: Launch, _expected: boolean): void {
    this.stop();
    this.launch = launch;
    // The relay sees every call: delivery is always expected to show.
    this.tracker = new DeliveryTracker(true);
    this.counts = undefined;
    this.publish();
    this.timer = setInterval(() => this.publish(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.launch = undefined;
  }

  private record(launch: Launch, path: string, call: RelayCall | undefined): void {
    if (launch !== this.launch || this.tracker === undefined) return;
    const now = Date.now();
    if (call === undefined) {
      // A call started: the agent reached the relay, whatever the store does with it.
      if (this.tracker.answered) return;
      this.tracker.record(now, true, this.counts);
      this.publish();
      return;
    }
    if (!WRITES.has(path)) return;
    const before = this.counts ?? { ok: 0, failed: 0, failures: new Map<string, number>() };
    const code = goCodeName(call.grpcStatus);
    const failures = new Map(before.failures);
    if (code !== "OK") failures.set(code, (failures.get(code) ?? 0) + 1);
    this.counts = {
      ok: before.ok + (code === "OK" ? 1 : 0),
      failed: before.failed + (code === "OK" ? 0 : 1),
      failures,
    };
    this.tracker.record(now, true, this.counts satisfies WriteCounts);
    this.publish();
  }

  private publish(): void {
    const { launch, tracker } = this;
    if (launch === undefined || tracker === undefined) return;
    this.observed(observedEvent(launch, tracker, { relay: this.address }));
  }
}
