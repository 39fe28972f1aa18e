// The rules from a checked config to a running agent: the apply and what it becomes, the
// last-known-good, crash loops, the uptime that proves a config, rollbacks and the removal stop.
import type { Launch } from "../agent/runner.js";
import type { Problem } from "../problem.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import type { Effect } from "./effects.js";
import type { ApplyRequest, EventOf } from "./events.js";
import type { Applied, LoopState } from "./state.js";
import {
  also,
  andThen,
  expectsProof,
  go,
  hold,
  knownGood,
  launchFor,
  log,
  rollbackTarget,
  type Step,
  stay,
} from "./step.js";

function request(
  state: LoopState,
  config: StoreConfig,
  fields: Omit<ApplyRequest, "config" | "launch" | "restart">,
): ApplyRequest {
  // An agent with another config in front of it (running, or waiting out a crash backoff).
  const restart = state.applied === undefined ? {} : { restart: "config" as const };
  return { config, launch: launchFor(state.settings, config), ...restart, ...fields };
}

/** Puts the desired `config` in front of the agent; `checked`: it passed its check. */
export function applyDesired(
  state: LoopState,
  config: StoreConfig,
  checked: boolean,
  eventAt: number | undefined,
): Step {
  const to = rollbackTarget(state, config);
  const apply = request(state, config, {
    checked,
    fresh: true,
    why: "desired",
    ...(to ? { rollbackTo: to } : {}),
    ...(eventAt === undefined ? {} : { eventAt }),
  });
  return also(go(state, { kind: "applying", config }), { type: "apply", request: apply });
}

/** At start: the persisted last-known-good runs at once, without waiting for the store. */
export function onStarted(state: LoopState, event: EventOf<"started">): Step {
  const said = state.missing.map((p) =>
    log("warn", { event: "source_missing", path: p.path }, p.message),
  );
  const { paused, knownGood: known } = event;
  if (paused)
    said.push(
      log(
        "warn",
        { event: "paused", reason: paused.reason, since: paused.since },
        "paused since before this start: new relation data is not applied until resume",
      ),
    );
  const s: LoopState = {
    ...state,
    metricsSeen: event.metricsSeen,
    ...(paused ? { paused } : {}),
    ...(known ? { knownGood: known } : {}),
  };
  const read = { type: "read", purpose: "reconcile" } as const;
  if (known === undefined) return stay(s, [...said, read]);
  const previous = known.previous && !sameStore(known.previous, known.current);
  const apply = request(s, known.current, {
    checked: true,
    fresh: false,
    why: "known-good",
    ...(previous ? { rollbackTo: known.previous } : {}),
  });
  return stay(s, [
    ...said,
    { type: "secret", token: known.current.token },
    { type: "secret", token: known.previous?.token },
    log(
      "info",
      { event: "known_good_started", address: known.current.address },
      "starting the last-known-good config without waiting for the store",
    ),
    { type: "apply", request: apply },
    read,
  ]);
}

/** The agent runs the request's config, could not be started with it, or newer work won. */
export function onApplyEnded(
  state: LoopState,
  { request: r, outcome }: EventOf<"applyEnded">,
): Step {
  const desired = r.why === "desired";
  if (outcome.kind === "aborted") {
    if (!desired) return stay(state);
    // Newer data gave up on it (or the sidecar stops): the reconcile for that data is next.
    const eventAt = state.eventAt ?? r.eventAt;
    return go({ ...state, ...(eventAt === undefined ? {} : { eventAt }) }, { kind: "idle" });
  }
  if (outcome.kind === "failed") {
    const said = log(
      "error",
      { event: "apply_failed", address: r.config.address, error: outcome.message },
      "cannot apply the config; the agent keeps running as it was",
    );
    return desired ? also(hold(state, r.config, outcome.message), said) : stay(state, [said]);
  }
  const observed: Effect = {
    type: "observeApply",
    ...(outcome.reactionMs === undefined ? {} : { reactionMs: outcome.reactionMs }),
    ...(r.restart === undefined || outcome.keptAgent ? {} : { restart: r.restart }),
  };
  const proving = r.checked && r.fresh && expectsProof(state);
  if (proving) return also(finish(state, r, state.persistError), observed);
  // Applied although its check failed (--unverified apply): held, so its retry checks it again.
  if (!r.checked)
    return also(
      andThen(finish(state, r, state.persistError), (s) => hold(s, r.config)),
      observed,
    );
  // Persisted before status can show it as running: what status says has been written.
  const kept = knownGood(r.config, r.rollbackTo);
  return stay({ ...state, knownGood: kept }, [
    observed,
    { type: "persist", knownGood: kept, after: { kind: "apply", request: r } },
  ]);
}

/** The last-known-good was written, or could not be. */
export function onPersisted(state: LoopState, { error, after }: EventOf<"persisted">): Step {
  if (after?.kind === "apply") return finish(state, after.request, error);
  if (after?.kind === "promote") return promote(state, after.launch, error);
  const { persistError: _, ...rest } = state;
  return stay(error === undefined ? rest : { ...state, persistError: error });
}

/** The unchecked config that runs passed its re-check, and is persisted: it is trusted now. */
function promote(state: LoopState, launch: Launch, error: string | undefined): Step {
  const { applied, persistError: _, ...rest } = state;
  if (applied?.launch !== launch) return stay(state);
  const promoted = { ...applied, stage: "trusted" as const };
  const next = {
    ...rest,
    applied: promoted,
    ...(error === undefined ? {} : { persistError: error }),
  };
  return go(next, { kind: "idle" });
}

/** The agent runs `r`'s config: it is what is applied, watched for crashes and delivery. */
function finish(state: LoopState, r: ApplyRequest, persistError: string | undefined): Step {
  const proving = r.checked && r.fresh && expectsProof(state);
  const applied: Applied = {
    config: r.config,
    launch: r.launch,
    stage: !r.checked ? "unchecked" : proving ? "proving" : "trusted",
    earlyExits: 0,
    stayedUp: false,
    ...(r.rollbackTo ? { rollbackTo: r.rollbackTo } : {}),
  };
  const { delivery: _, persistError: __, ...rest } = state;
  const error = r.checked ? persistError : state.persistError;
  const next = { ...rest, applied, ...(error === undefined ? {} : { persistError: error }) };
  const { address, insecure } = r.config;
  const { settings } = state;
  return also(
    go(next, { kind: "idle" }),
    log(
      "info",
      { event: "config_applied", address, insecure, checked: r.checked },
      r.checked
        ? "config applied"
        : "config applied although its check failed (--unverified apply)",
    ),
    {
      type: "watchDelivery",
      launch: r.launch,
      expected: settings.metricsExpected || state.metricsSeen,
    },
    proving
      ? { type: "arm", timer: "proof", ms: settings.deliveryTimeoutMs, launch: r.launch }
      : { type: "disarm", timer: "proof" },
    { type: "arm", timer: "uptime", ms: settings.minUptimeMs, launch: r.launch },
  );
}

/** Goes back to the applied config's rollback target, and rejects the config, for `why`. */
export function rollback(
  state: LoopState,
  launch: Launch,
  why: Problem,
  lastWords: string | undefined,
): Step {
  const { applied } = state;
  const target = applied?.rollbackTo;
  if (applied?.launch !== launch || target === undefined) return stay(state);
  // The agent's own words say why better than any guess: kept with the rejection.
  const reason = lastWords ? `${why.message}; the agent said: ${lastWords}` : why.message;
  const rejected = { config: applied.config, code: why.code, reason, hint: why.hint };
  const back = request(state, target, { checked: true, fresh: false, why: "rollback" });
  return stay({ ...state, rejected }, [
    log(
      "error",
      { event: "rollback", from: applied.config.address, to: target.address, code: why.code },
      `rolling back: ${why.message}`,
    ),
    { type: "observeRollback", code: why.code },
    { type: "apply", request: { ...back, restart: "rollback" } },
  ]);
}
