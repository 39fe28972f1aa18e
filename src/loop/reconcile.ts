// The rules from relation data to a check: what a read leads to, what a finished check leads to,
// and the held config's retry.
import { type Resolution, sameResolution } from "../relation/sources.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";
import { applyDesired } from "./apply.js";
import type { EventOf } from "./events.js";
import { isChecked, type LoopState } from "./state.js";
import {
  also,
  andThen,
  go,
  hold,
  isApplied,
  knownGood,
  log,
  record,
  type Step,
  stay,
} from "./step.js";

/** The held config's retry is armed: events do not check `config` again. */
function awaitsRetry(state: LoopState, config: StoreConfig): boolean {
  const { work } = state;
  return work.kind === "held" && work.waiting && sameStore(work.config, config);
}

/** Starts the loop's check of `config` (a new config: the retries count again). */
function check(state: LoopState, config: StoreConfig, eventAt: number | undefined): Step {
  const { work } = state;
  const fresh = work.kind === "held" && !sameStore(work.config, config);
  const next = fresh ? { ...state, retries: 0 } : state;
  const checking = { kind: "checking", config, recheck: false } as const;
  return also(go(next, eventAt === undefined ? checking : { ...checking, eventAt }), {
    type: "check",
    config,
    ...(eventAt === undefined ? {} : { since: eventAt }),
  });
}

/** The applied config failed its check (--unverified apply): check it again. */
function recheckApplied(state: LoopState): Step {
  const { applied } = state;
  if (applied === undefined || isChecked(applied)) return stay(state);
  const config = applied.config;
  return also(go(state, { kind: "checking", config, recheck: true }), { type: "check", config });
}

/** A stable read: its new warnings said once, then what the data asks for, against what runs. */
export function onRead(state: LoopState, event: EventOf<"read">): Step {
  const seen = new Set(state.resolution?.warnings.map((w) => JSON.stringify(w)));
  const said = event.resolution.warnings
    .filter((w) => !seen.has(JSON.stringify(w)))
    .map((w) =>
      log(
        "warn",
        { event: "relation_warning", code: w.code, path: w.path, hint: w.hint },
        w.message,
      ),
    );
  return also(readDecides(state, event), ...said);
}

function readDecides(state: LoopState, { resolution, missing }: EventOf<"read">): Step {
  const eventAt = state.eventAt;
  const read = { ...state, resolution, missing, eventAt: undefined };
  const { decision } = resolution;
  if (decision.kind === "error") {
    const e = decision.error;
    const fields = { event: "relation_invalid", code: e.code, path: e.path, hint: e.hint };
    const said = sameResolution(state.resolution, resolution)
      ? []
      : [log("warn", fields, e.message)];
    return also(go(read, { kind: "idle" }), ...said);
  }
  if (decision.kind === "unconfigured") {
    if (state.applied === undefined || state.paused !== undefined)
      return go(read, { kind: "idle" });
    if (state.work.kind === "removing") return stay(read);
    const graceMs = state.settings.removeGraceMs;
    return also(
      go(read, { kind: "removing" }),
      log(
        "info",
        { event: "relation_removed", graceMs },
        "no store configured any more; waiting for the grace period",
      ),
      { type: "arm", timer: "removal", ms: graceMs },
    );
  }
  const { config } = decision;
  const secret = { type: "secret", token: config.token } as const;
  const { rejected, applied } = state;
  if (rejected && sameStore(rejected.config, config))
    return also(go(read, { kind: "idle" }), secret);
  const current = { ...read, rejected: undefined };
  if (applied && isApplied(current, config)) {
    // Nothing changes for the agent. A config applied unverified keeps being re-checked.
    if (isChecked(applied)) return also(go({ ...current, retries: 0 }, { kind: "idle" }), secret);
    const { work } = current;
    if (work.kind === "held" && work.waiting) return stay(current, [secret]);
    return andThen(stay(current, [secret]), recheckApplied);
  }
  // A config that failed its check is retried by the backoff timer, not by every event.
  if (awaitsRetry(current, config)) return stay(current, [secret]);
  // Paused: a config already checked waits for resume, without checking it again.
  const { lastCheck } = current;
  if (current.paused && lastCheck?.result.ok && sameStore(lastCheck.config, config))
    return also(go(current, { kind: "idle" }), secret);
  return andThen(stay(current, [secret]), (s) => check(s, config, eventAt));
}

/** The first read of a change, while its quiet period runs: start checking what it asks for. */
export function onEarlyRead(state: LoopState, { resolution }: EventOf<"earlyRead">): Step {
  const { decision } = resolution;
  if (decision.kind !== "configured") return stay(state, [{ type: "abortCheck" }]);
  const { config } = decision;
  const { work, rejected } = state;
  // A restart command still running for other data is given up on: newer data never waits.
  const abort =
    work.kind === "applying" && !sameStore(work.config, config)
      ? [{ type: "abortApply" } as const]
      : [];
  const effects = [...abort, { type: "secret", token: config.token } as const];
  if (rejected && sameStore(rejected.config, config)) return stay(state, effects);
  if (isApplied(state, config) || awaitsRetry(state, config)) return stay(state, effects);
  return stay(state, [...effects, { type: "checkEarly", config }]);
}

/** The loop's check ended. */
export function onChecked(state: LoopState, event: EventOf<"checked">): Step {
  const { work } = state;
  if (work.kind !== "checking" || !sameStore(work.config, event.config)) return stay(state);
  const { result } = event;
  if (work.recheck) {
    const { applied } = state;
    if (result === undefined || applied === undefined || !sameStore(applied.config, work.config))
      return stay(state);
    if (applied.stage !== "unchecked") return stay(state);
    const recorded = record(state, work.config, result);
    if (!result.ok) return andThen(recorded, (s) => hold(s, work.config));
    // Persisted before status shows it trusted: what status says has been written.
    const kept = knownGood(applied.config, applied.rollbackTo);
    const after = { kind: "promote", launch: applied.launch } as const;
    return also(
      andThen(recorded, (s) => stay({ ...s, knownGood: kept, retries: 0 })),
      {
        type: "persist",
        knownGood: kept,
        after,
      },
    );
  }
  // Aborted by newer data, or the files changed again during the check and have not been quiet
  // since: acting now would restart the agent (or report a failure) for data already being
  // replaced. Still "checking": the reconcile for the newer data is next.
  const overtaken = (event.unsettledSince ?? -1) >= event.startedAt;
  if (result === undefined || overtaken)
    return stay({ ...state, eventAt: state.eventAt ?? work.eventAt });
  // Newer data waits behind this check: confirm the data still asks for it before acting.
  if (event.newerQueued)
    return stay({ ...state, work: { ...work, checked: result } }, [
      { type: "read", purpose: "confirm" },
    ]);
  return proceed(state, work.config, result, work.eventAt);
}

/** The read that confirms a checked config: act on it, or leave it to the newer data. */
export function onConfirm(state: LoopState, resolution: Resolution): Step {
  const { work } = state;
  if (work.kind !== "checking" || work.checked === undefined) return stay(state);
  const { decision } = resolution;
  if (decision.kind === "configured" && sameStore(decision.config, work.config))
    return proceed(state, work.config, work.checked, work.eventAt);
  const eventAt = state.eventAt ?? work.eventAt;
  return go(
    { ...state, resolution, ...(eventAt === undefined ? {} : { eventAt }) },
    {
      kind: "idle",
    },
  );
}

/** A check that counts: recorded, then applied, shown (paused) or held. */
function proceed(
  state: LoopState,
  config: StoreConfig,
  result: CheckResult,
  eventAt: number | undefined,
): Step {
  return andThen(record(state, config, result), (recorded) => {
    const s = result.ok ? { ...recorded, retries: 0 } : recorded;
    // Paused: checked and shown, never applied (a failed check is held and retried as ever).
    if (s.paused && result.ok) return go(s, { kind: "idle" });
    if (result.ok || (s.settings.unverified === "apply" && !s.paused))
      return applyDesired(s, config, result.ok, eventAt);
    return hold(s, config);
  });
}

/** The held config's backoff is over: check (and apply) what the data asks for now. */
export function onRetry(state: LoopState): Step {
  const { work } = state;
  const s = work.kind === "held" ? { ...state, work: { ...work, waiting: false } } : state;
  const decision = s.resolution?.decision;
  if (decision?.kind !== "configured") return stay(s);
  const { config } = decision;
  if (isApplied(s, config)) return recheckApplied(s);
  if (s.rejected && sameStore(s.rejected.config, config)) return stay(s);
  return check(s, config, undefined);
}

/** The removal grace is over: read again; still no store, stop the agent (or keep it). */
export function onRemovalRead(state: LoopState, resolution: Resolution): Step {
  const stillRemoved = resolution.decision.kind === "unconfigured";
  const read = { ...state, resolution };
  if (!stillRemoved || state.applied === undefined) {
    const idle = go(read, { kind: "idle" });
    return stillRemoved ? idle : also(idle, { type: "read", purpose: "reconcile" });
  }
  if (state.settings.onRemove === "keep") return go(read, { kind: "idle" });
  return stay(read, [
    log(
      "info",
      { event: "agent_stopping", reason: "relation removed" },
      "relation removed: stopping the agent",
    ),
    { type: "disarm", timer: "uptime" },
    { type: "stopAgent" },
  ]);
}

/** Reload (SIGHUP, API): forget a rejection and the retry's backoff, and read again. */
export function onReload(state: LoopState): Step {
  const { work } = state;
  const held = work.kind === "held";
  const next = {
    ...state,
    rejected: undefined,
    retries: 0,
    ...(held ? { work: { ...work, waiting: false } } : {}),
  };
  return stay(next, [
    ...(held ? [{ type: "disarm", timer: "retry" } as const] : []),
    log("info", { event: "reload" }, "reloading relation data"),
    { type: "read", purpose: "reconcile" },
  ]);
}
