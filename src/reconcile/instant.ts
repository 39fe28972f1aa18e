import { backoffDelay } from "../core/backoff.js";
import type { Effect } from "../loop/effects.js";
import type { EventOf, LoopEvent, TimerName } from "../loop/events.js";
import type { CheckGate } from "./check-gate.js";
import { DeliveryWatch } from "./delivery-watch.js";
import type { ReconcileObserver, ReconcilerOptions } from "./options.js";
import { RelayDeliveryWatch } from "./relay-delivery.js";

type TimerEvent = Extract<LoopEvent, { type: "timer" }>;

/** What the effects done at once need of the loop's runner. */
export interface InstantLoop {
  readonly options: ReconcilerOptions;
  readonly gate: CheckGate;
  /** Gives up on the restart or stop command in flight. */
  abortApply(): void;
  /** Handles `event` now (outside the loop's turn). */
  handle(event: LoopEvent): Promise<void>;
  /** Handles `event` in the loop's next turn, with what the agent shows then. */
  later(event: LoopEvent): void;
}

/**
 * The effects without I/O of the loop's own, done at once: timers, the delivery watch, the
 * early check, logs, secrets and metrics. It decides nothing.
 */
export class InstantEffects {
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  private readonly delivery: Pick<DeliveryWatch, "begin" | "stop">;
  readonly observers: ReconcileObserver[] = [];
  /** The re-check of the applied config in flight (it runs beside the loop's turns). */
  rechecking: Promise<void> | undefined;

  constructor(private readonly loop: InstantLoop) {
    const d = loop.options.delivery;
    const observed = (event: EventOf<"deliveryObserved">) => void loop.handle(event);
    this.delivery = d?.relay
      ? new RelayDeliveryWatch(d.relay.address, d.relay.calls, observed)
      : new DeliveryWatch(
          {
            url: d?.url,
            scrape: d?.scrape ?? (async () => ({ kind: "unreachable", error: "off" }) as const),
            ...(d?.random ? { random: d.random } : {}),
          },
          observed,
        );
    if (loop.options.observer) this.observers.push(loop.options.observer);
  }

  do(effect: Effect): void {
    const { options, gate } = this.loop;
    switch (effect.type) {
      case "checkEarly":
        gate.start(effect.config);
        break;
      case "abortCheck":
        gate.abort();
        break;
      case "abortApply":
        this.loop.abortApply();
        break;
      case "recheck": {
        const { launch } = effect;
        this.rechecking = options.checker
          .check(effect.config)
          .then((result) => this.loop.handle({ type: "appliedChecked", launch, result }));
        break;
      }
      case "arm": {
        const event: TimerEvent = { type: "timer", timer: effect.timer };
        this.arm(effect.ms, effect.launch ? { ...event, launch: effect.launch } : event);
        break;
      }
      case "armRetry": {
        const inMs = backoffDelay(effect.step, options.retry);
        options.log.info({ event: "check_retry", inMs }, "retrying the check after a backoff");
        this.arm(inMs, { type: "timer", timer: "retry" });
        break;
      }
      case "disarm":
        clearTimeout(this.timers.get(effect.timer));
        this.timers.delete(effect.timer);
        break;
      case "watchDelivery":
        this.delivery.begin(effect.launch, effect.expected);
        break;
      case "unwatchDelivery":
        this.delivery.stop();
        break;
      case "rememberMetrics":
        void options.delivery?.memory.markSeen().catch(() => undefined);
        break;
      case "later":
        this.loop.later(effect.event);
        break;
      case "secret":
        options.secrets.add(effect.token);
        break;
      case "log":
        options.log[effect.level](effect.fields, effect.message);
        break;
      case "observeCheck":
        for (const o of this.observers) o.checked(effect.result);
        break;
      case "observeApply":
        for (const o of this.observers) o.applied(effect.reactionMs, effect.restart);
        break;
      case "observeRollback":
        for (const o of this.observers) o.rolledBack(effect.code);
        break;
      default:
        throw new Error(`${effect.type} runs in the loop's turn`);
    }
  }

  /** Arms the event's timer (replacing it); when it fires, the event has the loop's next turn. */
  private arm(ms: number, event: TimerEvent): void {
    clearTimeout(this.timers.get(event.timer));
    const fire = () => {
      this.timers.delete(event.timer);
      this.loop.later(event);
    };
    this.timers.set(event.timer, setTimeout(fire, ms));
  }
}
