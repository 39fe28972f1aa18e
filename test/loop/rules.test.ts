// The loop's rules table (docs/architecture.md), run against the pure transition function: one
// row per rule — a state, an event, the work it leads to and the effects, in order. No timers,
// no I/O, no fakes: a state in, a state and effects out.
import { describe, expect, it } from "vitest";
import type { Launch } from "../../src/agent/runner.js";
import type { ApplyRequest, LoopEvent } from "../../src/loop/events.js";
import {
  type Applied,
  type DeliveryView,
  initialState,
  type LoopState,
  type Settings,
} from "../../src/loop/state.js";
import { launchFor, type Step } from "../../src/loop/step.js";
import { transition } from "../../src/loop/transition.js";
import { problem } from "../../src/problem.js";
import { RelationError } from "../../src/relation/errors.js";
import { decide, type Resolution } from "../../src/relation/sources.js";
import type { StoreConfig } from "../../src/relation/types.js";
import { type CheckResult, failedCheck } from "../../src/store/check.js";

const SETTINGS: Settings = {
  baseArgs: ["--node=n1"],
  render: { tokenMode: "flag", stateDir: "/state" },
  unverified: "hold",
  onRemove: "stop",
  removeGraceMs: 2000,
  minUptimeMs: 10_000,
  deliveryTimeoutMs: 60_000,
  metricsUrl: undefined,
  metricsExpected: false,
};
const PROVING: Settings = {
  ...SETTINGS,
  metricsUrl: "http://agent/metrics",
  metricsExpected: true,
};

const A: StoreConfig = { address: "a.example:7070", insecure: true };
const B: StoreConfig = { address: "b.example:7070", insecure: true };
const PATH = "/relation.json";

const read = (data: StoreConfig | "removed" | "invalid"): Resolution =>
  decide([
    data === "removed"
      ? { kind: "missing", path: PATH }
      : data === "invalid"
        ? { kind: "error", path: PATH, error: new RelationError("MALFORMED", "no", "yes", PATH) }
        : { kind: "configured", path: PATH, config: data, warnings: [] },
  ]);
/** A read of `c` whose source carries a warning. */
const warned = (c: StoreConfig): Resolution =>
  decide([
    {
      kind: "configured",
      path: PATH,
      config: c,
      warnings: [problem("ADDRESS_FROM_URL", `the agent gets ${c.address}`, "h", PATH)],
    },
  ]);
const ok = (c: StoreConfig): CheckResult => ({
  ok: true,
  address: c.address,
  insecure: c.insecure,
  stages: [],
  warnings: [],
  durationMs: 1,
});
const failed = (c: StoreConfig) =>
  failedCheck(c.address, c.insecure, problem("NOT_SERVING", "down", "fix it"));

/** One launch per config: the loop tells launches apart by identity, as a runner's events do. */
const LAUNCHES = new Map<string, Launch>();
function launch(c: StoreConfig): Launch {
  const known = LAUNCHES.get(c.address) ?? launchFor(SETTINGS, c);
  LAUNCHES.set(c.address, known);
  return known;
}
const applied = (c: StoreConfig, more: Partial<Applied> = {}): Applied => ({
  config: c,
  launch: launch(c),
  stage: "trusted",
  earlyExits: 0,
  stayedUp: false,
  ...more,
});
/** A state: idle, having read `data`, with `more` over it. */
function given(data: StoreConfig | "removed", more: Partial<LoopState> = {}): LoopState {
  return { ...initialState(SETTINGS), work: { kind: "idle" }, resolution: read(data), ...more };
}
const request = (c: StoreConfig, more: Partial<ApplyRequest> = {}): ApplyRequest => ({
  config: c,
  launch: launch(c),
  checked: true,
  fresh: true,
  why: "desired",
  ...more,
});
const readEvent = (data: StoreConfig | "removed" | "invalid"): LoopEvent => ({
  type: "read",
  purpose: "reconcile",
  resolution: read(data),
  missing: [],
});
const checked = (c: StoreConfig, result: CheckResult | undefined, more = {}): LoopEvent => ({
  type: "checked",
  config: c,
  startedAt: 100,
  newerQueued: false,
  ...(result ? { result } : {}),
  ...more,
});

/** What the agent's metrics said: nothing yet, unless `more` says otherwise. */
const delivery = (more: Partial<DeliveryView>): DeliveryView => ({
  state: "WAITING",
  url: "u",
  ok: 0,
  failed: 0,
  lastFailureCode: "",
  answered: false,
  expected: true,
  ...more,
});

interface Row {
  readonly rule: string;
  readonly state: LoopState;
  readonly event: LoopEvent;
  /** The kind of work it leads to. */
  readonly work: LoopState["work"]["kind"];
  /** The effects' types, in order. */
  readonly effects: readonly string[];
  /** What else must hold. */
  readonly also?: (step: Step) => void;
}

const checking = (c: StoreConfig, eventAt?: number, result?: CheckResult): LoopState["work"] => ({
  kind: "checking",
  config: c,
  recheck: false,
  ...(eventAt === undefined ? {} : { eventAt }),
  ...(result === undefined ? {} : { checked: result }),
});

const ROWS: readonly Row[] = [
  {
    rule: "the first stable read says nothing to check: idle; invalid data is logged once",
    state: initialState(SETTINGS),
    event: readEvent("invalid"),
    work: "idle",
    effects: ["log"],
  },
  {
    rule: "invalid data that was logged already is not logged again, and leaves the agent alone",
    state: given(A, { applied: applied(A), resolution: read("invalid") }),
    event: readEvent("invalid"),
    work: "idle",
    effects: [],
    also: (s) => expect(s.state.applied?.config).toEqual(A),
  },
  {
    rule: "a configured store that differs from what runs is checked (reusing an early check since its first event)",
    state: given(A, { applied: applied(A), eventAt: 42 }),
    event: readEvent(B),
    work: "checking",
    effects: ["secret", "check"],
    also: (s) => expect(s.effects[1]).toEqual({ type: "check", config: B, since: 42 }),
  },
  {
    rule: "a new warning of the relation data (ADDRESS_FROM_URL) is logged once, after what the read leads to",
    state: given(A, { applied: applied(A) }),
    event: { ...readEvent(A), resolution: warned(A) },
    work: "idle",
    effects: ["secret", "log"],
    also: (s) =>
      expect(s.effects[1]).toEqual({
        type: "log",
        level: "warn",
        fields: { event: "relation_warning", code: "ADDRESS_FROM_URL", path: PATH, hint: "h" },
        message: "the agent gets a.example:7070",
      }),
  },
  {
    rule: "a warning already logged is not logged again",
    state: given(A, { applied: applied(A), resolution: warned(A) }),
    event: { ...readEvent(A), resolution: warned(A) },
    work: "idle",
    effects: ["secret"],
  },
  {
    rule: "the same rendered argv and token as what runs: no check, no restart",
    state: given(A, { applied: applied(A) }),
    event: readEvent(A),
    work: "idle",
    effects: ["secret"],
  },
  {
    rule: "a rolled-back config stays rejected until the data changes or a Reload",
    state: given(A, {
      applied: applied(A),
      rejected: { config: B, code: "AGENT_CRASH_LOOP", reason: "r", hint: "h" },
    }),
    event: readEvent(B),
    work: "idle",
    effects: ["secret"],
  },
  {
    rule: "a passed check is applied, with what runs as the rollback target",
    state: given(B, { applied: applied(A), work: checking(B) }),
    event: checked(B, ok(B)),
    work: "applying",
    effects: ["log", "observeCheck", "apply"],
    also: (s) =>
      expect(s.effects[2]).toMatchObject({
        request: { config: B, checked: true, rollbackTo: A, restart: "config" },
      }),
  },
  {
    rule: "paused: a passed check is shown, never applied",
    state: given(B, { work: checking(B), paused: { reason: "", since: new Date(0) } }),
    event: checked(B, ok(B)),
    work: "idle",
    effects: ["log", "observeCheck"],
    also: (s) => expect(s.state.lastCheck?.config).toEqual(B),
  },
  {
    rule: "a failed check is held, and retried after the first backoff step",
    state: given(B, { work: checking(B) }),
    event: checked(B, failed(B)),
    work: "held",
    effects: ["log", "observeCheck", "armRetry"],
    also: (s) => expect(s.effects[2]).toEqual({ type: "armRetry", step: 0 }),
  },
  {
    rule: "--unverified apply: a failed check is applied all the same, unchecked",
    state: { ...given(B, { work: checking(B) }), settings: { ...SETTINGS, unverified: "apply" } },
    event: checked(B, failed(B)),
    work: "applying",
    effects: ["log", "observeCheck", "apply"],
    also: (s) => expect(s.effects[2]).toMatchObject({ request: { checked: false } }),
  },
  {
    rule: "--unverified apply: the unchecked config that runs passes its re-check: persisted first",
    state: given(B, {
      applied: applied(B, { stage: "unchecked" }),
      work: { kind: "checking", config: B, recheck: true },
    }),
    event: checked(B, ok(B)),
    work: "checking",
    effects: ["log", "observeCheck", "persist"],
    also: (s) => expect(s.state.applied?.stage).toBe("unchecked"),
  },
  {
    rule: "… then trusted: the last-known-good, status no longer DEGRADED",
    state: given(B, {
      applied: applied(B, { stage: "unchecked" }),
      work: { kind: "checking", config: B, recheck: true },
    }),
    event: { type: "persisted", after: { kind: "promote", launch: launch(B) } },
    work: "idle",
    effects: [],
    also: (s) => expect(s.state.applied?.stage).toBe("trusted"),
  },
  {
    rule: "a check aborted by newer data is never reported; the newer data is next",
    state: given(B, { work: checking(B, 7) }),
    event: checked(B, undefined),
    work: "checking",
    effects: [],
    also: (s) => expect(s.state.eventAt).toBe(7),
  },
  {
    rule: "a check overtaken by files still settling is never acted upon",
    state: given(B, { work: checking(B) }),
    event: checked(B, ok(B), { unsettledSince: 150 }),
    work: "checking",
    effects: [],
    also: (s) => expect(s.state.lastCheck).toBeUndefined(),
  },
  {
    rule: "newer data waits behind a check: the data is read again before it is acted upon",
    state: given(B, { work: checking(B) }),
    event: checked(B, ok(B), { newerQueued: true }),
    work: "checking",
    effects: ["read"],
  },
  {
    rule: "the confirming read names other data: the checked config is dropped for it",
    state: given(B, { work: checking(B, undefined, ok(B)) }),
    event: { type: "read", purpose: "confirm", resolution: read(A), missing: [] },
    work: "idle",
    effects: [],
    also: (s) => expect(s.state.lastCheck).toBeUndefined(),
  },
  {
    rule: "a checked config is persisted as the last-known-good before it shows as applied",
    state: given(B, { applied: applied(A), work: { kind: "applying", config: B } }),
    event: {
      type: "applyEnded",
      request: request(B, { rollbackTo: A }),
      outcome: { kind: "applied" },
    },
    work: "applying",
    effects: ["observeApply", "persist"],
    also: (s) => {
      expect(s.state.applied?.config).toEqual(A);
      expect(s.state.knownGood).toEqual({ current: B, previous: A });
    },
  },
  {
    rule: "once persisted it is applied: watched for delivery and for its uptime",
    state: given(B, { applied: applied(A), work: { kind: "applying", config: B } }),
    event: { type: "persisted", after: { kind: "apply", request: request(B, { rollbackTo: A }) } },
    work: "idle",
    effects: ["log", "watchDelivery", "disarm", "arm"],
    also: (s) =>
      expect(s.state.applied).toMatchObject({ config: B, rollbackTo: A, stage: "trusted" }),
  },
  {
    rule: "the state dir unwritable: the agent runs all the same, and status says why",
    state: given(B, { work: { kind: "applying", config: B } }),
    event: { type: "persisted", error: "EROFS", after: { kind: "apply", request: request(B) } },
    work: "idle",
    effects: ["log", "watchDelivery", "disarm", "arm"],
    also: (s) => expect(s.state.persistError).toBe("EROFS"),
  },
  {
    rule: "a new config must prove itself when the agent's metrics are expected: not persisted",
    state: { ...given(B, { work: { kind: "applying", config: B } }), settings: PROVING },
    event: { type: "applyEnded", request: request(B), outcome: { kind: "applied" } },
    work: "idle",
    effects: ["log", "watchDelivery", "arm", "arm", "observeApply"],
    also: (s) => expect(s.state.applied?.stage).toBe("proving"),
  },
  {
    rule: "a restart command that fails is RESTART_FAILED: held and retried, nothing persisted",
    state: given(B, { applied: applied(A), work: { kind: "applying", config: B } }),
    event: {
      type: "applyEnded",
      request: request(B),
      outcome: { kind: "failed", message: "exit 3" },
    },
    work: "held",
    effects: ["armRetry", "log"],
    also: (s) => {
      expect(s.state.work).toMatchObject({ why: "apply", message: "exit 3" });
      expect(s.state.applied?.config).toEqual(A);
    },
  },
  {
    rule: "newer data gave up on the restart command: idle, the newer data is next",
    state: given(B, { work: { kind: "applying", config: B } }),
    event: {
      type: "applyEnded",
      request: request(B, { eventAt: 9 }),
      outcome: { kind: "aborted" },
    },
    work: "idle",
    effects: [],
    also: (s) => expect(s.state.eventAt).toBe(9),
  },
  {
    rule: "the held config's backoff is over: checked again",
    state: given(B, { work: { kind: "held", why: "check", config: B, waiting: true } }),
    event: { type: "timer", timer: "retry" },
    work: "checking",
    effects: ["disarm", "check"],
  },
  {
    rule: "the held config read again while its retry waits: not checked again",
    state: given(B, { work: { kind: "held", why: "check", config: B, waiting: true } }),
    event: readEvent(B),
    work: "held",
    effects: ["secret"],
  },
  {
    rule: "the data back to what runs while held: idle, the retry disarmed",
    state: given(B, {
      applied: applied(A),
      work: { kind: "held", why: "check", config: B, waiting: true },
    }),
    event: readEvent(A),
    work: "idle",
    effects: ["disarm", "secret"],
  },
  {
    rule: "no store configured while an agent runs: the removal grace begins",
    state: given(A, { applied: applied(A) }),
    event: readEvent("removed"),
    work: "removing",
    effects: ["log", "arm"],
    also: (s) => expect(s.effects[1]).toMatchObject({ timer: "removal", ms: 2000 }),
  },
  {
    rule: "paused: a removed relation never stops the agent",
    state: given(A, { applied: applied(A), paused: { reason: "", since: new Date(0) } }),
    event: readEvent("removed"),
    work: "idle",
    effects: [],
  },
  {
    rule: "the data came back during the removal grace: the grace is disarmed",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: readEvent(A),
    work: "idle",
    effects: ["disarm", "secret"],
  },
  {
    rule: "the removal grace is over: the data is read again",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: { type: "timer", timer: "removal" },
    work: "removing",
    effects: ["read"],
  },
  {
    rule: "still no store after the grace (--on-remove stop): the agent is stopped",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: { type: "read", purpose: "removal", resolution: read("removed"), missing: [] },
    work: "removing",
    effects: ["log", "disarm", "stopAgent"],
  },
  {
    rule: "the agent stopped for good: nothing applied, no last-known-good",
    state: given("removed", {
      applied: applied(A),
      knownGood: { current: A },
      work: { kind: "removing" },
    }),
    event: { type: "agentStopped" },
    work: "idle",
    effects: ["disarm"],
    also: (s) => expect([s.state.applied, s.state.knownGood]).toEqual([undefined, undefined]),
  },
  {
    rule: "a third exit within --min-uptime-ms with a rollback target: a crash loop, in its turn",
    state: given(B, { applied: applied(B, { rollbackTo: A, earlyExits: 2 }) }),
    event: { type: "agentExited", launch: launch(B), uptimeMs: 50, stderrTail: ["boom"] },
    work: "idle",
    effects: ["later"],
    also: (s) => expect(s.state.applied?.earlyExits).toBe(3),
  },
  {
    rule: "a crash loop rolls back to the target and rejects the config",
    state: given(B, { applied: applied(B, { rollbackTo: A, earlyExits: 3 }) }),
    event: {
      type: "crashLoop",
      launch: launch(B),
      problem: problem("AGENT_CRASH_LOOP", "exits", "fix"),
      lastWords: "no route",
    },
    work: "idle",
    effects: ["log", "observeRollback", "apply"],
    also: (s) => {
      expect(s.state.rejected).toMatchObject({
        config: B,
        reason: "exits; the agent said: no route",
      });
      expect(s.effects[2]).toMatchObject({
        request: { config: A, why: "rollback", restart: "rollback" },
      });
    },
  },
  {
    rule: "one process up --min-uptime-ms: the rollback target is dropped and B alone persisted",
    state: given(B, { applied: applied(B, { rollbackTo: A }) }),
    event: { type: "timer", timer: "uptime", launch: launch(B), upMs: 10_000 },
    work: "idle",
    effects: ["persist"],
    also: (s) => {
      expect(s.state.applied?.stayedUp).toBe(true);
      expect(s.state.applied?.rollbackTo).toBeUndefined();
      expect(s.state.knownGood).toEqual({ current: B });
    },
  },
  {
    rule: "a process restarted after a crash is not up long enough: looked at again later",
    state: given(B, { applied: applied(B, { rollbackTo: A }) }),
    event: { type: "timer", timer: "uptime", launch: launch(B), upMs: 4000 },
    work: "idle",
    effects: ["arm"],
    also: (s) => expect(s.effects[0]).toMatchObject({ ms: 6000 }),
  },
  {
    rule: "an OK write of the agent proves a proving config: the last-known-good",
    state: given(B, { applied: applied(B, { stage: "proving", rollbackTo: A }) }),
    event: {
      type: "deliveryObserved",
      launch: launch(B),
      proven: true,
      counted: true,
      view: delivery({ state: "DELIVERING", ok: 1, answered: true }),
    },
    work: "idle",
    effects: ["rememberMetrics", "disarm", "log", "persist"],
    also: (s) => expect(s.state.applied?.stage).toBe("trusted"),
  },
  {
    rule: "failed writes until the deadline: rolled back, AGENT_WRITES_FAILING",
    state: given(B, {
      settings: PROVING,
      applied: applied(B, { stage: "proving", rollbackTo: A }),
      delivery: delivery({
        state: "FAILING",
        failed: 3,
        lastFailureCode: "Unauthenticated",
        answered: true,
      }),
    }),
    event: { type: "timer", timer: "proof", launch: launch(B) },
    work: "idle",
    effects: ["log", "log", "observeRollback", "apply"],
    also: (s) => expect(s.state.rejected?.code).toBe("AGENT_WRITES_FAILING"),
  },
  {
    rule: "not proven with nothing to go back to: reported, left running",
    state: given(B, {
      settings: PROVING,
      applied: applied(B, { stage: "proving" }),
      delivery: delivery({}),
    }),
    event: { type: "timer", timer: "proof", launch: launch(B) },
    work: "idle",
    effects: ["log"],
    also: (s) => {
      expect(s.state.applied?.stage).toBe("unproven");
      expect(s.state.delivery?.problem?.code).toBe("AGENT_NOT_CONNECTED");
    },
  },
  {
    rule: "the store is re-checked only while the agent's writes do not prove it",
    state: given(A, {
      applied: applied(A),
      delivery: delivery({ state: "DELIVERING", ok: 1, answered: true }),
    }),
    event: { type: "recheckDue" },
    work: "idle",
    effects: [],
  },
  {
    rule: "the first read of a change starts checking what it asks for, before it settles",
    state: given(A, { applied: applied(A) }),
    event: { type: "earlyRead", resolution: read(B) },
    work: "idle",
    effects: ["secret", "checkEarly"],
  },
  {
    rule: "newer data gives up on a restart command still running for other data",
    state: given(B, { work: { kind: "applying", config: B } }),
    event: { type: "earlyRead", resolution: read(A) },
    work: "applying",
    effects: ["abortApply", "secret", "checkEarly"],
  },
  {
    rule: "Reload forgets a rejection and the backoff, and reads again",
    state: given(B, {
      rejected: { config: B, code: "AGENT_CRASH_LOOP", reason: "r", hint: "h" },
      retries: 3,
    }),
    event: { type: "reloaded" },
    work: "idle",
    effects: ["log", "read"],
    also: (s) => expect([s.state.rejected, s.state.retries]).toEqual([undefined, 0]),
  },
  {
    rule: "Pause: kept, a removal grace disarmed, the data read again",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: { type: "paused", paused: { reason: "incident", since: new Date(0) } },
    work: "removing",
    effects: ["log", "disarm", "read"],
  },
  {
    rule: "shutdown: stopped, every timer disarmed, the check and the command given up on",
    state: given(B, { work: checking(B) }),
    event: { type: "shutdown" },
    work: "stopped",
    effects: [
      ...["disarm", "disarm", "disarm", "disarm"],
      ...["abortCheck", "abortApply", "unwatchDelivery"],
    ],
  },
  {
    rule: "once stopped nothing changes",
    state: given(B, { work: { kind: "stopped" } }),
    event: readEvent(A),
    work: "stopped",
    effects: [],
  },
];

describe("the loop's rules (docs/architecture.md)", () => {
  it.each(ROWS.map((row) => [row.rule, row] as const))("%s", (_rule, row) => {
    const step = transition(row.state, row.event);
    expect(step.state.work.kind).toBe(row.work);
    expect(step.effects.map((e) => e.type)).toEqual(row.effects);
    row.also?.(step);
  });

  it("never changes the state it is given", () => {
    for (const row of ROWS) {
      const before = JSON.stringify(row.state);
      transition(row.state, row.event);
      expect(JSON.stringify(row.state)).toBe(before);
    }
  });
});
