// The loop's rules table (docs/architecture.md), run against the pure transition function: one
// row per rule — a state, an event, the work it leads to and the effects, in order. No timers,
// no I/O, no fakes: a state in, a state and effects out.
import { describe, expect, it } from "vitest";
import type { Launch } from "../../src/agent/runner.js";
import type { Effect } from "../../src/loop/effects.js";
import type { ApplyRequest, LoopEvent } from "../../src/loop/events.js";
import {
  type Applied,
  type DeliveryView,
  initialState,
  type LoopState,
  type Settings,
} from "../../src/loop/state.js";
import type { Step } from "../../src/loop/step.js";
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

/**
 * One launch per config, written out (not rendered by the code under test); the loop tells
 * launches apart by identity, as a runner's events do.
 */
const LAUNCH_A: Launch = {
  store: A,
  argv: ["--node=n1", "--remote-store-address=a.example:7070", "--remote-store-insecure=true"],
  unsetEnv: [],
};
const LAUNCH_B: Launch = {
  store: B,
  argv: ["--node=n1", "--remote-store-address=b.example:7070", "--remote-store-insecure=true"],
  unsetEnv: [],
};
const launch = (c: StoreConfig): Launch => (c === A ? LAUNCH_A : LAUNCH_B);

/** Freezes an object and everything it holds, so that any write to it throws. */
function deepFreeze(value: unknown, seen = new Set<unknown>()): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  for (const inner of Object.values(value)) deepFreeze(inner, seen);
  Object.freeze(value);
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
const readEvent = (data: StoreConfig | "removed" | "invalid" | Resolution): LoopEvent => ({
  type: "read",
  purpose: "reconcile",
  resolution: typeof data === "object" && "decision" in data ? data : read(data),
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
  /** The work it leads to, whole. */
  readonly work: LoopState["work"];
  /** The effects, whole, in order. */
  readonly effects: readonly Effect[];
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
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "warn",
        fields: {
          event: "relation_invalid",
          code: "MALFORMED",
          path: "/relation.json",
          hint: "yes",
        },
        message: "no",
      },
    ],
  },
  {
    rule: "invalid data that was logged already is not logged again, and leaves the agent alone",
    state: given(A, { applied: applied(A), resolution: read("invalid") }),
    event: readEvent("invalid"),
    work: {
      kind: "idle",
    },
    effects: [],
    also: (s) => expect(s.state.applied?.config).toEqual(A),
  },
  {
    rule: "a configured store that differs from what runs is checked (reusing an early check since its first event)",
    state: given(A, { applied: applied(A), eventAt: 42 }),
    event: readEvent(B),
    work: {
      kind: "checking",
      config: B,
      recheck: false,
      eventAt: 42,
    },
    effects: [
      { type: "secret", token: undefined },
      {
        type: "check",
        config: B,
        since: 42,
      },
    ],
    also: (s) => expect(s.effects[1]).toEqual({ type: "check", config: B, since: 42 }),
  },
  {
    rule: "a new warning of the relation data (ADDRESS_FROM_URL) is logged once, after what the read leads to",
    state: given(A, { applied: applied(A) }),
    event: readEvent(warned(A)),
    work: {
      kind: "idle",
    },
    effects: [
      { type: "secret", token: undefined },
      {
        type: "log",
        level: "warn",
        fields: {
          event: "relation_warning",
          code: "ADDRESS_FROM_URL",
          path: "/relation.json",
          hint: "h",
        },
        message: "the agent gets a.example:7070",
      },
    ],
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
    event: readEvent(warned(A)),
    work: {
      kind: "idle",
    },
    effects: [{ type: "secret", token: undefined }],
  },
  {
    rule: "the same rendered argv and token as what runs: no check, no restart",
    state: given(A, { applied: applied(A) }),
    event: readEvent(A),
    work: {
      kind: "idle",
    },
    effects: [{ type: "secret", token: undefined }],
  },
  {
    rule: "a rolled-back config stays rejected until the data changes or a Reload",
    state: given(A, {
      applied: applied(A),
      rejected: { config: B, code: "AGENT_CRASH_LOOP", reason: "r", hint: "h" },
    }),
    event: readEvent(B),
    work: {
      kind: "idle",
    },
    effects: [{ type: "secret", token: undefined }],
  },
  {
    rule: "a passed check is applied, with what runs as the rollback target",
    state: given(B, { applied: applied(A), work: checking(B) }),
    event: checked(B, ok(B)),
    work: {
      kind: "applying",
      config: B,
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "check_passed",
          address: "b.example:7070",
          durationMs: 1,
          stages: "",
        },
        message: "store check passed",
      },
      {
        type: "observeCheck",
        result: ok(B),
      },
      {
        type: "apply",
        request: {
          config: B,
          launch: {
            store: B,
            argv: [
              "--node=n1",
              "--remote-store-address=b.example:7070",
              "--remote-store-insecure=true",
            ],
            unsetEnv: [],
          },
          restart: "config",
          checked: true,
          fresh: true,
          why: "desired",
          rollbackTo: A,
        },
      },
    ],
    also: (s) =>
      expect(s.effects[2]).toMatchObject({
        request: { config: B, checked: true, rollbackTo: A, restart: "config" },
      }),
  },
  {
    rule: "paused: a passed check is shown, never applied",
    state: given(B, { work: checking(B), paused: { reason: "", since: new Date(0) } }),
    event: checked(B, ok(B)),
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "check_passed",
          address: "b.example:7070",
          durationMs: 1,
          stages: "",
        },
        message: "store check passed",
      },
      {
        type: "observeCheck",
        result: ok(B),
      },
    ],
    also: (s) => expect(s.state.lastCheck?.config).toEqual(B),
  },
  {
    rule: "a failed check is held, and retried after the first backoff step",
    state: given(B, { work: checking(B) }),
    event: checked(B, failed(B)),
    work: {
      kind: "held",
      why: "check",
      config: B,
      waiting: true,
    },
    effects: [
      {
        type: "log",
        level: "warn",
        fields: {
          event: "check_failed",
          address: "b.example:7070",
          code: "NOT_SERVING",
          hint: "fix it",
        },
        message: "store check failed: down",
      },
      {
        type: "observeCheck",
        result: failed(B),
      },
      {
        type: "armRetry",
        step: 0,
      },
    ],
    also: (s) => expect(s.effects[2]).toEqual({ type: "armRetry", step: 0 }),
  },
  {
    rule: "--unverified apply: a failed check is applied all the same, unchecked",
    state: { ...given(B, { work: checking(B) }), settings: { ...SETTINGS, unverified: "apply" } },
    event: checked(B, failed(B)),
    work: {
      kind: "applying",
      config: B,
    },
    effects: [
      {
        type: "log",
        level: "warn",
        fields: {
          event: "check_failed",
          address: "b.example:7070",
          code: "NOT_SERVING",
          hint: "fix it",
        },
        message: "store check failed: down",
      },
      {
        type: "observeCheck",
        result: failed(B),
      },
      {
        type: "apply",
        request: {
          config: B,
          launch: {
            store: B,
            argv: [
              "--node=n1",
              "--remote-store-address=b.example:7070",
              "--remote-store-insecure=true",
            ],
            unsetEnv: [],
          },
          checked: false,
          fresh: true,
          why: "desired",
        },
      },
    ],
    also: (s) => expect(s.effects[2]).toMatchObject({ request: { checked: false } }),
  },
  {
    rule: "--unverified apply: the unchecked config that runs passes its re-check: persisted first",
    state: given(B, {
      applied: applied(B, { stage: "unchecked" }),
      work: { kind: "checking", config: B, recheck: true },
    }),
    event: checked(B, ok(B)),
    work: {
      kind: "checking",
      config: B,
      recheck: true,
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "check_passed",
          address: "b.example:7070",
          durationMs: 1,
          stages: "",
        },
        message: "store check passed",
      },
      {
        type: "observeCheck",
        result: ok(B),
      },
      {
        type: "persist",
        knownGood: {
          current: B,
        },
        after: {
          kind: "promote",
          launch: LAUNCH_B,
        },
      },
    ],
    also: (s) => expect(s.state.applied?.stage).toBe("unchecked"),
  },
  {
    rule: "… then trusted: the last-known-good, status no longer DEGRADED",
    state: given(B, {
      applied: applied(B, { stage: "unchecked" }),
      work: { kind: "checking", config: B, recheck: true },
    }),
    event: { type: "persisted", after: { kind: "promote", launch: launch(B) } },
    work: {
      kind: "idle",
    },
    effects: [],
    also: (s) => expect(s.state.applied?.stage).toBe("trusted"),
  },
  {
    rule: "a check aborted by newer data is never reported; the newer data is next",
    state: given(B, { work: checking(B, 7) }),
    event: checked(B, undefined),
    work: {
      kind: "checking",
      config: B,
      recheck: false,
      eventAt: 7,
    },
    effects: [],
    also: (s) => expect(s.state.eventAt).toBe(7),
  },
  {
    rule: "a check overtaken by files still settling is never acted upon",
    state: given(B, { work: checking(B) }),
    event: checked(B, ok(B), { unsettledSince: 150 }),
    work: {
      kind: "checking",
      config: B,
      recheck: false,
    },
    effects: [],
    also: (s) => expect(s.state.lastCheck).toBeUndefined(),
  },
  {
    rule: "newer data waits behind a check: the data is read again before it is acted upon",
    state: given(B, { work: checking(B) }),
    event: checked(B, ok(B), { newerQueued: true }),
    work: {
      kind: "checking",
      config: B,
      recheck: false,
      checked: ok(B),
    },
    effects: [
      {
        type: "read",
        purpose: "confirm",
      },
    ],
  },
  {
    rule: "the confirming read names other data: the checked config is dropped for it",
    state: given(B, { work: checking(B, undefined, ok(B)) }),
    event: { type: "read", purpose: "confirm", resolution: read(A), missing: [] },
    work: {
      kind: "idle",
    },
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
    work: {
      kind: "applying",
      config: B,
    },
    effects: [
      {
        type: "observeApply",
      },
      {
        type: "persist",
        knownGood: {
          current: B,
          previous: A,
        },
        after: {
          kind: "apply",
          request: {
            config: B,
            launch: LAUNCH_B,
            checked: true,
            fresh: true,
            why: "desired",
            rollbackTo: A,
          },
        },
      },
    ],
    also: (s) => {
      expect(s.state.applied?.config).toEqual(A);
      expect(s.state.knownGood).toEqual({ current: B, previous: A });
    },
  },
  {
    rule: "once persisted it is applied: watched for delivery and for its uptime",
    state: given(B, { applied: applied(A), work: { kind: "applying", config: B } }),
    event: { type: "persisted", after: { kind: "apply", request: request(B, { rollbackTo: A }) } },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "config_applied",
          address: "b.example:7070",
          insecure: true,
          checked: true,
        },
        message: "config applied",
      },
      {
        type: "watchDelivery",
        launch: LAUNCH_B,
        expected: false,
      },
      {
        type: "disarm",
        timer: "proof",
      },
      {
        type: "arm",
        timer: "uptime",
        ms: 10000,
        launch: LAUNCH_B,
      },
    ],
    also: (s) =>
      expect(s.state.applied).toMatchObject({ config: B, rollbackTo: A, stage: "trusted" }),
  },
  {
    rule: "the state dir unwritable: the agent runs all the same, and status says why",
    state: given(B, { work: { kind: "applying", config: B } }),
    event: { type: "persisted", error: "EROFS", after: { kind: "apply", request: request(B) } },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "config_applied",
          address: "b.example:7070",
          insecure: true,
          checked: true,
        },
        message: "config applied",
      },
      {
        type: "watchDelivery",
        launch: LAUNCH_B,
        expected: false,
      },
      {
        type: "disarm",
        timer: "proof",
      },
      {
        type: "arm",
        timer: "uptime",
        ms: 10000,
        launch: LAUNCH_B,
      },
    ],
    also: (s) => expect(s.state.persistError).toBe("EROFS"),
  },
  {
    rule: "a new config must prove itself when the agent's metrics are expected: not persisted",
    state: { ...given(B, { work: { kind: "applying", config: B } }), settings: PROVING },
    event: { type: "applyEnded", request: request(B), outcome: { kind: "applied" } },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "config_applied",
          address: "b.example:7070",
          insecure: true,
          checked: true,
        },
        message: "config applied",
      },
      {
        type: "watchDelivery",
        launch: LAUNCH_B,
        expected: true,
      },
      {
        type: "arm",
        timer: "proof",
        ms: 60000,
        launch: LAUNCH_B,
      },
      {
        type: "arm",
        timer: "uptime",
        ms: 10000,
        launch: LAUNCH_B,
      },
      {
        type: "observeApply",
      },
    ],
    also: (s) => expect(s.state.applied?.stage).toBe("proving"),
  },
  {
    rule: "an apply that restarted the agent counts its restart, for metrics",
    state: given(B, { applied: applied(A), work: { kind: "applying", config: B } }),
    event: {
      type: "applyEnded",
      request: request(B, { rollbackTo: A, restart: "config" }),
      outcome: { kind: "applied" },
    },
    work: { kind: "applying", config: B },
    effects: [
      { type: "observeApply", restart: "config" },
      {
        type: "persist",
        knownGood: { current: B, previous: A },
        after: { kind: "apply", request: request(B, { rollbackTo: A, restart: "config" }) },
      },
    ],
  },
  {
    rule: "an apply that kept the agent running (the relay switched its store) counts no restart",
    state: given(B, { applied: applied(A), work: { kind: "applying", config: B } }),
    event: {
      type: "applyEnded",
      request: request(B, { rollbackTo: A, restart: "config" }),
      outcome: { kind: "applied", keptAgent: true },
    },
    work: { kind: "applying", config: B },
    effects: [
      { type: "observeApply" },
      {
        type: "persist",
        knownGood: { current: B, previous: A },
        after: { kind: "apply", request: request(B, { rollbackTo: A, restart: "config" }) },
      },
    ],
  },
  {
    rule: "a restart command that fails is RESTART_FAILED: held and retried, nothing persisted",
    state: given(B, { applied: applied(A), work: { kind: "applying", config: B } }),
    event: {
      type: "applyEnded",
      request: request(B),
      outcome: { kind: "failed", message: "exit 3" },
    },
    work: {
      kind: "held",
      why: "apply",
      config: B,
      waiting: true,
      message: "exit 3",
    },
    effects: [
      {
        type: "armRetry",
        step: 0,
      },
      {
        type: "log",
        level: "error",
        fields: {
          event: "apply_failed",
          address: "b.example:7070",
          error: "exit 3",
        },
        message: "cannot apply the config; the agent keeps running as it was",
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [],
    also: (s) => expect(s.state.eventAt).toBe(9),
  },
  {
    rule: "the held config's backoff is over: checked again",
    state: given(B, { work: { kind: "held", why: "check", config: B, waiting: true } }),
    event: { type: "timer", timer: "retry" },
    work: {
      kind: "checking",
      config: B,
      recheck: false,
    },
    effects: [
      {
        type: "disarm",
        timer: "retry",
      },
      {
        type: "check",
        config: B,
      },
    ],
  },
  {
    rule: "the held config read again while its retry waits: not checked again",
    state: given(B, { work: { kind: "held", why: "check", config: B, waiting: true } }),
    event: readEvent(B),
    work: {
      kind: "held",
      why: "check",
      config: B,
      waiting: true,
    },
    effects: [{ type: "secret", token: undefined }],
  },
  {
    rule: "the data back to what runs while held: idle, the retry disarmed",
    state: given(B, {
      applied: applied(A),
      work: { kind: "held", why: "check", config: B, waiting: true },
    }),
    event: readEvent(A),
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "disarm",
        timer: "retry",
      },
      { type: "secret", token: undefined },
    ],
  },
  {
    rule: "no store configured while an agent runs: the removal grace begins",
    state: given(A, { applied: applied(A) }),
    event: readEvent("removed"),
    work: {
      kind: "removing",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "relation_removed",
          graceMs: 2000,
        },
        message: "no store configured any more; waiting for the grace period",
      },
      {
        type: "arm",
        timer: "removal",
        ms: 2000,
      },
    ],
    also: (s) => expect(s.effects[1]).toMatchObject({ timer: "removal", ms: 2000 }),
  },
  {
    rule: "paused: a removed relation never stops the agent",
    state: given(A, { applied: applied(A), paused: { reason: "", since: new Date(0) } }),
    event: readEvent("removed"),
    work: {
      kind: "idle",
    },
    effects: [],
  },
  {
    rule: "the data came back during the removal grace: the grace is disarmed",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: readEvent(A),
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "disarm",
        timer: "removal",
      },
      { type: "secret", token: undefined },
    ],
  },
  {
    rule: "the removal grace is over: the data is read again",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: { type: "timer", timer: "removal" },
    work: {
      kind: "removing",
    },
    effects: [
      {
        type: "read",
        purpose: "removal",
      },
    ],
  },
  {
    rule: "still no store after the grace (--on-remove stop): the agent is stopped",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: { type: "read", purpose: "removal", resolution: read("removed"), missing: [] },
    work: {
      kind: "removing",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "agent_stopping",
          reason: "relation removed",
        },
        message: "relation removed: stopping the agent",
      },
      {
        type: "disarm",
        timer: "uptime",
      },
      {
        type: "stopAgent",
      },
    ],
  },
  {
    rule: "the agent stopped for good: nothing applied, no last-known-good",
    state: given("removed", {
      applied: applied(A),
      knownGood: { current: A },
      work: { kind: "removing" },
    }),
    event: { type: "agentStopped" },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "disarm",
        timer: "removal",
      },
    ],
    also: (s) => expect([s.state.applied, s.state.knownGood]).toEqual([undefined, undefined]),
  },
  {
    rule: "a third exit within --min-uptime-ms with a rollback target: a crash loop, in its turn",
    state: given(B, { applied: applied(B, { rollbackTo: A, earlyExits: 2 }) }),
    event: { type: "agentExited", launch: launch(B), uptimeMs: 50, stderrTail: ["boom"] },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "later",
        event: {
          type: "crashLoop",
          launch: LAUNCH_B,
          problem: {
            code: "AGENT_CRASH_LOOP",
            message:
              "b.example:7070 exited 3 times within 10000 ms of starting (last stderr: boom)",
            hint: "the agent's last stderr lines say why; fix the store or the agent's flags, then change the relation data or reload (SIGHUP)",
            path: "",
          },
        },
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "error",
        fields: {
          event: "rollback",
          from: "b.example:7070",
          to: "a.example:7070",
          code: "AGENT_CRASH_LOOP",
        },
        message: "rolling back: exits",
      },
      {
        type: "observeRollback",
        code: "AGENT_CRASH_LOOP",
      },
      {
        type: "apply",
        request: {
          config: A,
          launch: {
            store: A,
            argv: [
              "--node=n1",
              "--remote-store-address=a.example:7070",
              "--remote-store-insecure=true",
            ],
            unsetEnv: [],
          },
          restart: "rollback",
          checked: true,
          fresh: false,
          why: "rollback",
        },
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "persist",
        knownGood: {
          current: B,
        },
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "arm",
        timer: "uptime",
        ms: 6000,
        launch: LAUNCH_B,
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "rememberMetrics",
      },
      {
        type: "disarm",
        timer: "proof",
      },
      {
        type: "log",
        level: "info",
        fields: {
          event: "delivery_proven",
          address: "b.example:7070",
        },
        message: "the agent's writes reach the store: the config is the last-known-good",
      },
      {
        type: "persist",
        knownGood: {
          current: B,
          previous: A,
        },
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "warn",
        fields: {
          event: "delivery_failed",
          code: "AGENT_WRITES_FAILING",
        },
        message:
          "the agent's writes to the store fail (Unauthenticated), and none succeeded within 60000 ms",
      },
      {
        type: "log",
        level: "error",
        fields: {
          event: "rollback",
          from: "b.example:7070",
          to: "a.example:7070",
          code: "AGENT_WRITES_FAILING",
        },
        message:
          "rolling back: the agent's writes to the store fail (Unauthenticated), and none succeeded within 60000 ms",
      },
      {
        type: "observeRollback",
        code: "AGENT_WRITES_FAILING",
      },
      {
        type: "apply",
        request: {
          config: A,
          launch: {
            store: A,
            argv: [
              "--node=n1",
              "--remote-store-address=a.example:7070",
              "--remote-store-insecure=true",
            ],
            unsetEnv: [],
          },
          restart: "rollback",
          checked: true,
          fresh: false,
          why: "rollback",
        },
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "warn",
        fields: {
          event: "delivery_failed",
          code: "AGENT_NOT_CONNECTED",
        },
        message:
          "the agent's metrics (http://agent/metrics) never answered within 60000 ms: it did not reach the store",
      },
    ],
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
    work: {
      kind: "idle",
    },
    effects: [],
  },
  {
    rule: "the first read of a change starts checking what it asks for, before it settles",
    state: given(A, { applied: applied(A) }),
    event: { type: "earlyRead", resolution: read(B) },
    work: {
      kind: "idle",
    },
    effects: [
      { type: "secret", token: undefined },
      {
        type: "checkEarly",
        config: B,
      },
    ],
  },
  {
    rule: "newer data gives up on a restart command still running for other data",
    state: given(B, { work: { kind: "applying", config: B } }),
    event: { type: "earlyRead", resolution: read(A) },
    work: {
      kind: "applying",
      config: B,
    },
    effects: [
      {
        type: "abortApply",
      },
      { type: "secret", token: undefined },
      {
        type: "checkEarly",
        config: A,
      },
    ],
  },
  {
    rule: "Reload forgets a rejection and the backoff, and reads again",
    state: given(B, {
      rejected: { config: B, code: "AGENT_CRASH_LOOP", reason: "r", hint: "h" },
      retries: 3,
    }),
    event: { type: "reloaded" },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "reload",
        },
        message: "reloading relation data",
      },
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
    also: (s) => expect([s.state.rejected, s.state.retries]).toEqual([undefined, 0]),
  },
  {
    rule: "Pause: kept, a removal grace disarmed, the data read again",
    state: given("removed", { applied: applied(A), work: { kind: "removing" } }),
    event: { type: "paused", paused: { reason: "incident", since: new Date(0) } },
    work: {
      kind: "removing",
    },
    effects: [
      {
        type: "log",
        level: "warn",
        fields: {
          event: "paused",
          reason: "incident",
        },
        message: "paused: new relation data is not applied",
      },
      {
        type: "disarm",
        timer: "removal",
      },
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
  },
  {
    rule: "at start, a persisted last-known-good is started at once, without waiting for the store",
    state: initialState(SETTINGS),
    event: { type: "started", metricsSeen: false, knownGood: { current: A } },
    work: {
      kind: "starting",
    },
    effects: [
      { type: "secret", token: undefined },
      { type: "secret", token: undefined },
      {
        type: "log",
        level: "info",
        fields: {
          event: "known_good_started",
          address: "a.example:7070",
        },
        message: "starting the last-known-good config without waiting for the store",
      },
      {
        type: "apply",
        request: {
          config: A,
          launch: {
            store: A,
            argv: [
              "--node=n1",
              "--remote-store-address=a.example:7070",
              "--remote-store-insecure=true",
            ],
            unsetEnv: [],
          },
          checked: true,
          fresh: false,
          why: "known-good",
        },
      },
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
    also: (s) => expect(s.state.knownGood).toEqual({ current: A }),
  },
  {
    rule: "at start with nothing persisted, the data is read",
    state: initialState(SETTINGS),
    event: { type: "started", metricsSeen: false },
    work: {
      kind: "starting",
    },
    effects: [
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
  },
  {
    rule: "a change's first event is remembered for its reaction time, and the data read",
    state: given(A, { applied: applied(A) }),
    event: { type: "triggered", eventAt: 5 },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
    also: (s) => expect(s.state.eventAt).toBe(5),
  },
  {
    rule: "a trigger while a change is pending keeps the first event's time",
    state: given(A, { applied: applied(A), eventAt: 3 }),
    event: { type: "triggered", eventAt: 5 },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
    also: (s) => expect(s.state.eventAt).toBe(3),
  },
  {
    rule: "CheckStore: a passed check of the desired config is recorded, and the data read again",
    state: given(B, { applied: applied(A) }),
    event: { type: "desiredChecked", config: B, result: ok(B) },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "check_passed",
          address: "b.example:7070",
          durationMs: 1,
          stages: "",
        },
        message: "store check passed",
      },
      {
        type: "observeCheck",
        result: ok(B),
      },
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
    also: (s) => expect(s.state.lastCheck).toEqual({ config: B, result: ok(B) }),
  },
  {
    rule: "CheckStore: a failed check of the desired config is recorded, nothing else",
    state: given(B, { applied: applied(A) }),
    event: { type: "desiredChecked", config: B, result: failed(B) },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "warn",
        fields: {
          event: "check_failed",
          address: "b.example:7070",
          code: "NOT_SERVING",
          hint: "fix it",
        },
        message: "store check failed: down",
      },
      {
        type: "observeCheck",
        result: failed(B),
      },
    ],
    also: (s) => expect(s.state.lastCheck).toEqual({ config: B, result: failed(B) }),
  },
  {
    rule: "the re-check is due while the agent's writes do not prove the store: the applied config is re-checked",
    state: given(A, { applied: applied(A), delivery: delivery({ state: "WAITING" }) }),
    event: { type: "recheckDue" },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "recheck",
        config: A,
        launch: LAUNCH_A,
      },
    ],
  },
  {
    rule: "the applied config's re-check: kept as applied_check, never as last_check",
    state: given(A, { applied: applied(A) }),
    event: { type: "appliedChecked", launch: launch(A), result: failed(A) },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "observeCheck",
        result: failed(A),
      },
    ],
    also: (s) => expect([s.state.appliedCheck, s.state.lastCheck]).toEqual([failed(A), undefined]),
  },
  {
    rule: "a re-check of an agent launch that no longer runs is counted, not kept",
    state: given(B, { applied: applied(B) }),
    event: { type: "appliedChecked", launch: launch(A), result: failed(A) },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "observeCheck",
        result: failed(A),
      },
    ],
    also: (s) => expect(s.state.appliedCheck).toBeUndefined(),
  },
  {
    rule: "Resume: said, and the data read again to be applied",
    state: given(B, { applied: applied(A), paused: { reason: "incident", since: new Date(0) } }),
    event: { type: "resumed" },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "log",
        level: "info",
        fields: {
          event: "resumed",
        },
        message: "resumed: relation data is applied again",
      },
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
    also: (s) => expect(s.state.paused).toBeUndefined(),
  },
  {
    rule: "Resume when not paused: the data read again, nothing said",
    state: given(B, { applied: applied(A) }),
    event: { type: "resumed" },
    work: {
      kind: "idle",
    },
    effects: [
      {
        type: "read",
        purpose: "reconcile",
      },
    ],
  },
  {
    rule: "shutdown: stopped, every timer disarmed, the check and the command given up on",
    state: given(B, { work: checking(B) }),
    event: { type: "shutdown" },
    work: {
      kind: "stopped",
    },
    effects: [
      {
        type: "disarm",
        timer: "retry",
      },
      {
        type: "disarm",
        timer: "removal",
      },
      {
        type: "disarm",
        timer: "uptime",
      },
      {
        type: "disarm",
        timer: "proof",
      },
      {
        type: "abortCheck",
      },
      {
        type: "abortApply",
      },
      {
        type: "unwatchDelivery",
      },
    ],
  },
  {
    rule: "once stopped nothing changes",
    state: given(B, { work: { kind: "stopped" } }),
    event: readEvent(A),
    work: {
      kind: "stopped",
    },
    effects: [],
  },
];

describe("the loop's rules (docs/architecture.md)", () => {
  it.each(ROWS.map((row) => [row.rule, row] as const))("%s", (_rule, row) => {
    const step = transition(row.state, row.event);
    expect(step.state.work).toEqual(row.work);
    expect(step.effects).toEqual(row.effects);
    row.also?.(step);
  });

  it("never changes the state or the event it is given (both frozen, deep, before the first call)", () => {
    for (const row of ROWS) {
      const before = JSON.stringify([row.state, row.event]);
      deepFreeze(row.state);
      deepFreeze(row.event);
      expect(() => transition(row.state, row.event), row.rule).not.toThrow();
      expect(JSON.stringify([row.state, row.event])).toBe(before);
    }
  });
});
