import { renderFlags } from "../agent/flags.js";
import type { Launch } from "../agent/runner.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";
import type { Effect, LogLevel } from "./effects.js";
import { isChecked, type KnownGood, type LoopState, type Settings, type Work } from "./state.js";

/** What one event leads to: the next state, and what to do, in order. */
export interface Step {
  readonly state: LoopState;
  readonly effects: readonly Effect[];
}

export const stay = (state: LoopState, effects: readonly Effect[] = []): Step => ({
  state,
  effects,
});

/** `step`, then `effects` after its own. */
export const also = (step: Step, ...effects: Effect[]): Step => ({
  state: step.state,
  effects: [...step.effects, ...effects],
});

/** Runs `next` on the state `first` left, its effects after `first`'s. */
export function andThen(first: Step, next: (state: LoopState) => Step): Step {
  const second = next(first.state);
  return { state: second.state, effects: [...first.effects, ...second.effects] };
}

/** Timers that belong to a kind of work: leaving it disarms them. */
const ARMED_BY: Partial<Record<Work["kind"], Effect>> = {
  held: { type: "disarm", timer: "retry" },
  removing: { type: "disarm", timer: "removal" },
};

/** Moves to `work`; leaving a kind of work disarms its timer. Once stopped, nothing moves. */
export function go(state: LoopState, work: Work): Step {
  const before = state.work;
  if (before.kind === "stopped") return stay(state);
  const exit = before.kind !== work.kind ? ARMED_BY[before.kind] : undefined;
  return { state: { ...state, work }, effects: exit ? [exit] : [] };
}

export const log = (
  level: LogLevel,
  fields: Readonly<Record<string, unknown>>,
  message: string,
): Effect => ({ type: "log", level, fields, message });

export function launchFor(settings: Settings, config: StoreConfig): Launch {
  const rendered = renderFlags(settings.baseArgs, config, settings.render);
  return {
    store: config,
    argv: rendered.argv,
    unsetEnv: rendered.unsetEnv,
    ...(rendered.tokenFile ? { tokenFile: rendered.tokenFile } : {}),
  };
}

/** The no-op rule: the same rendered argv and the same token as the applied config. */
export function isApplied(state: LoopState, config: StoreConfig): boolean {
  const { applied } = state;
  if (applied === undefined || applied.config.token !== config.token) return false;
  const argv = launchFor(state.settings, config).argv;
  const running = applied.launch.argv;
  return running.length === argv.length && running.every((arg, i) => arg === argv[i]);
}

/**
 * Where a newly applied `config` goes back to if it crash-loops or is not proven: the checked
 * config running now, else the last-known-good — never `config` itself.
 */
export function rollbackTarget(state: LoopState, config: StoreConfig): StoreConfig | undefined {
  const { applied } = state;
  const running = applied && isChecked(applied) ? applied.config : undefined;
  const target = running ?? state.knownGood?.current;
  return target && !sameStore(target, config) ? target : undefined;
}

/** Whether a new config has to prove itself: metrics are read, and expected from the agent. */
export function expectsProof(state: LoopState): boolean {
  const { metricsUrl, metricsExpected } = state.settings;
  return metricsUrl !== undefined && (metricsExpected || state.metricsSeen);
}

/** A check that counts: logged, shown in status as `last_check`, and in metrics. */
export function record(state: LoopState, config: StoreConfig, result: CheckResult): Step {
  const d = result.diagnosis;
  const said = result.ok
    ? log(
        "info",
        {
          event: "check_passed",
          address: config.address,
          durationMs: result.durationMs,
          stages: result.stages.map((s) => `${s.name} ${s.durationMs.toFixed(1)}`).join(" "),
        },
        "store check passed",
      )
    : log(
        "warn",
        { event: "check_failed", address: config.address, code: d?.code, hint: d?.hint },
        `store check failed: ${d?.message ?? "unknown"}`,
      );
  return stay({ ...state, lastCheck: { config, result } }, [
    said,
    { type: "observeCheck", result },
  ]);
}

/** A config held after its check failed or it could not be applied, with its retry armed. */
export function hold(state: LoopState, config: StoreConfig, message?: string): Step {
  const work =
    message === undefined
      ? ({ kind: "held", why: "check", config, waiting: true } as const)
      : ({ kind: "held", why: "apply", config, waiting: true, message } as const);
  return also(go({ ...state, retries: state.retries + 1 }, work), {
    type: "armRetry",
    step: state.retries,
  });
}

/** The last-known-good `current`, going back to `previous` (never itself). */
export function knownGood(current: StoreConfig, previous: StoreConfig | undefined): KnownGood {
  return { current, ...(previous && !sameStore(previous, current) ? { previous } : {}) };
}
