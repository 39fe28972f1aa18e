// The loop's rules, in milliseconds: the Reconciler driven with fakes of its own interfaces and
// vitest's fake timers. Process-level behaviour is tested for real in test/e2e/.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildStatus } from "../../src/api/status-message.js";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import type { LoopState } from "../../src/loop/state.js";
import { view } from "../../src/loop/view.js";
import { Reconciler } from "../../src/reconcile/reconciler.js";
import type { StoreConfig } from "../../src/relation/types.js";
import { capturedLogger } from "../support/logs.js";
import {
  FakeChecker,
  FakeRunner,
  FakeSources,
  loopOptions,
  MemoryKnownGood,
  store,
} from "../support/loop-fakes.js";

const A = store("a.example:7070");
const B = store("b.example:7070");
const C = store("c.example:7070");

interface LoopOptions {
  readonly unverified?: "hold" | "apply";
  readonly known?: MemoryKnownGood;
  readonly unsettledSince?: () => number | undefined;
  /** Read the agent's metrics (from `metrics` below), expected from the start or not. */
  readonly delivery?: { readonly expected: boolean };
}

/** What the fake agent's /metrics answers: its counters, or nothing at all. */
interface AgentMetrics {
  answers: boolean;
  ok: number;
  failed: number;
  code: string;
}

function loop(options: LoopOptions = {}) {
  const sources = new FakeSources();
  const checker = new FakeChecker();
  const runner = new FakeRunner();
  const known = options.known ?? new MemoryKnownGood();
  const { log, secrets } = capturedLogger("silent");
  const counted: string[] = [];
  const reactions: (number | undefined)[] = [];
  /** Why each apply restarted a running agent ("-": none ran), and each rollback's reason. */
  const restarts: string[] = [];
  const rollbacks: string[] = [];
  const metrics: AgentMetrics = { answers: false, ok: 0, failed: 0, code: "Unauthenticated" };
  let seen = false;
  const text = () =>
    [
      ...(metrics.ok ? [`parca_agent_write_requests_total{code="OK"} ${metrics.ok}`] : []),
      ...(metrics.failed
        ? [`parca_agent_write_requests_total{code="${metrics.code}"} ${metrics.failed}`]
        : []),
    ].join("\n");
  const reconciler = new Reconciler(
    loopOptions({
      sources,
      unverified: options.unverified ?? "hold",
      runner,
      checker,
      knownGood: known,
      log,
      secrets,
      observer: {
        checked: (r) => counted.push(`${r.address} ${r.ok ? "ok" : r.diagnosis?.code}`),
        applied: (ms, restart) => {
          reactions.push(ms);
          restarts.push(restart ?? "-");
        },
        rolledBack: (code) => rollbacks.push(code),
      },
      ...(options.unsettledSince ? { unsettledSince: options.unsettledSince } : {}),
      ...(options.delivery
        ? {
            delivery: {
              url: "http://agent/metrics",
              timeoutMs: 60_000,
              expected: options.delivery.expected,
              memory: {
                seen: async () => seen,
                markSeen: async () => {
                  seen = true;
                },
              },
              scrape: async () =>
                metrics.answers
                  ? ({ kind: "answered", text: text() } as const)
                  : ({ kind: "unreachable", error: "ECONNREFUSED" } as const),
            },
          }
        : {}),
    }),
  );
  const state = (): LoopState => reconciler.state;
  return {
    ...{ sources, checker, runner, known, reconciler, state, counted, reactions, metrics },
    ...{ restarts, rollbacks },
  };
}

/** A loop started with `config` applied. */
async function running(config: StoreConfig, options: LoopOptions = {}) {
  const l = loop(options);
  l.sources.set(config);
  await l.reconciler.start();
  return l;
}

/** Lets queued work and promises run, without moving the clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("the loop", () => {
  it("checks and applies a new config; the same data again does nothing", async () => {
    const l = await running(A);
    expect(l.runner.addresses()).toEqual([A.address]);
    expect(l.known.saved?.current).toEqual(A);
    expect(l.state().work.kind).toBe("idle");
    await l.reconciler.trigger();
    await l.reconciler.trigger();
    expect(l.checker.calls).toHaveLength(1);
    expect(l.runner.launches).toHaveLength(1);
  });

  it("retries a failed check with a doubling backoff, not on every event; applies once it passes", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5); // no jitter: 1 s, 2 s, 4 s
    const l = loop();
    l.checker.verdicts.set(A.address, "CONNECTION_REFUSED");
    l.sources.set(A);
    await l.reconciler.start();
    expect(l.state().work).toMatchObject({ kind: "held", why: "check" });
    // Events for the same data wait for the timer.
    for (let i = 0; i < 5; i++) await l.reconciler.trigger();
    expect(l.checker.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(l.checker.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(l.checker.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(l.checker.calls).toHaveLength(2);
    l.checker.verdicts.set(A.address, "ok");
    await vi.advanceTimersByTimeAsync(1);
    expect(l.checker.calls).toHaveLength(3);
    expect(l.runner.addresses()).toEqual([A.address]);
    expect(l.state().work.kind).toBe("idle");
    // Passed: no more retries.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(l.checker.calls).toHaveLength(3);
  });

  it("newer data supersedes a held config at once, with a fresh backoff", async () => {
    const l = loop();
    l.checker.verdicts.set(A.address, "CONNECTION_REFUSED");
    l.checker.verdicts.set(B.address, "UNAUTHENTICATED");
    l.sources.set(A);
    await l.reconciler.start();
    await vi.advanceTimersByTimeAsync(1200 + 2400 + 4800);
    expect(l.checker.addresses()).toEqual([A, A, A, A].map((s) => s.address));
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.checker.addresses().at(-1)).toBe(B.address);
    expect(l.state().work).toMatchObject({ kind: "held", config: B });
    // B's first retry comes after ~1 s, not after A's grown delay.
    await vi.advanceTimersByTimeAsync(1200);
    expect(l.checker.addresses().slice(-2)).toEqual([B.address, B.address]);
    l.sources.set(C);
    await l.reconciler.trigger();
    expect(l.runner.addresses()).toEqual([C.address]);
    // The held configs' timers are gone: nothing is checked again.
    const checks = l.checker.calls.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(l.checker.calls).toHaveLength(checks);
  });

  it("does not apply a config overtaken during its check, and does not report that check", async () => {
    let unsettled: number | undefined;
    const l = loop({ unsettledSince: () => unsettled });
    l.sources.set(A);
    await l.reconciler.start();
    l.checker.holding = true;
    l.sources.set(B);
    const reconcile = l.reconciler.trigger(performance.now());
    await settle();
    expect(l.state().work).toMatchObject({ kind: "checking", config: B });
    // A newer write comes while B is checked; its quiet period still runs.
    vi.advanceTimersByTime(5);
    unsettled = performance.now();
    l.sources.set(C);
    l.checker.release();
    await reconcile;
    expect(l.runner.addresses()).toEqual([A.address]);
    expect(l.counted).toEqual([`${A.address} ok`]);
    expect(l.state().lastCheck?.config).toEqual(A);
    expect(l.state().work.kind).toBe("checking");
    // The files settle: C is next.
    unsettled = undefined;
    l.checker.holding = false;
    await l.reconciler.trigger();
    expect(l.runner.addresses()).toEqual([A.address, C.address]);
    expect(l.counted).toEqual([`${A.address} ok`, `${C.address} ok`]);
  });

  it("rolls back after three early exits, rejects the config until the data changes or a reload", async () => {
    const l = await running(A);
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.known.saved).toMatchObject({ current: B, previous: A });
    l.runner.crash(100);
    l.runner.crash(150);
    await settle();
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
    l.runner.crash(120);
    await settle();
    expect(l.runner.addresses()).toEqual([A.address, B.address, A.address]);
    expect(l.state().rejected?.config).toEqual(B);
    expect(l.state().rejected?.reason).toContain("exited 3 times");
    // For metrics: started, restarted for B, restarted for the rollback to A.
    expect(l.restarts).toEqual(["-", "config", "rollback"]);
    expect(l.rollbacks).toEqual(["AGENT_CRASH_LOOP"]);
    expect(l.known.saved).toEqual(expect.objectContaining({ current: A }));
    expect(l.known.saved?.previous).toBeUndefined();
    // The same data: nothing happens.
    await l.reconciler.trigger();
    expect(l.runner.launches).toHaveLength(3);
    // A reload tries it again.
    await l.reconciler.reload();
    expect(l.runner.addresses().at(-1)).toBe(B.address);
    expect(l.state().rejected).toBeUndefined();
  });

  it("keeps the rollback target until the new config has run --min-uptime-ms", async () => {
    const l = await running(A);
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.state().applied?.rollbackTo).toEqual(A);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(l.state().applied?.rollbackTo).toBeUndefined();
    expect(l.known.saved?.previous).toBeUndefined();
    // Crashes after that never roll back.
    for (let i = 0; i < 3; i++) l.runner.crash(100);
    await settle();
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
  });

  it("counts --min-uptime-ms for one process: an agent restarted after a crash is not promoted at the deadline", async () => {
    const l = await running(A);
    l.sources.set(B);
    await l.reconciler.trigger();
    // Crashes 6 s in, runs again at once: at 10 s after the apply, the agent running has been
    // up for only 4 s.
    await vi.advanceTimersByTimeAsync(6_000);
    l.runner.crash(6_000);
    l.runner.recover();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(l.state().applied).toMatchObject({ rollbackTo: A });
    expect(l.state().applied?.stayedUp).toBe(false);
    expect(l.known.saved).toMatchObject({ current: B, previous: A });
    // Once that process has stayed up 10 s, B is promoted and A dropped.
    await vi.advanceTimersByTimeAsync(6_000);
    expect(l.state().applied?.stayedUp).toBe(true);
    expect(l.state().applied?.rollbackTo).toBeUndefined();
    expect(l.known.saved?.previous).toBeUndefined();
  });

  it("a crash loop before any agent stayed up is DEGRADED; after one has, the phase holds", async () => {
    const l = await running(A);
    const phase = () => view(l.state(), l.runner.snapshot(), false);
    l.runner.crash(100);
    expect(phase()).toMatchObject({ phase: Phase.DEGRADED, ready: false });
    expect(phase().message).toContain("has not stayed up yet");
    l.runner.recover();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(l.state().applied?.stayedUp).toBe(true);
    l.runner.crash(20_000);
    expect(phase()).toMatchObject({ phase: Phase.RUNNING, ready: false });
  });

  it("a config rolled back for crash-looping is Status.rejected AGENT_CRASH_LOOP", async () => {
    const l = await running(A);
    l.sources.set(B);
    await l.reconciler.trigger();
    for (let i = 0; i < 3; i++) l.runner.crash(100);
    await settle();
    const status = buildStatus(
      l.state(),
      l.runner.snapshot(),
      view(l.state(), l.runner.snapshot(), false),
      [],
    );
    expect(status.rejected?.code).toBe("AGENT_CRASH_LOOP");
    expect(status.rejected?.message).toContain(B.address);
    expect(status.phase).toBe(Phase.DEGRADED);
  });

  it("waits out the remove grace; data that comes back within it stops nothing", async () => {
    const l = await running(A);
    l.sources.set("removed");
    await l.reconciler.trigger();
    expect(l.state().work.kind).toBe("removing");
    await vi.advanceTimersByTimeAsync(1500);
    l.sources.set(A);
    await l.reconciler.trigger();
    expect(l.state().work.kind).toBe("idle");
    await vi.advanceTimersByTimeAsync(5000);
    expect(l.runner.stops).toBe(0);
    l.sources.set("removed");
    await l.reconciler.trigger();
    await vi.advanceTimersByTimeAsync(1999);
    expect(l.runner.stops).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(l.runner.stops).toBe(1);
    expect(l.state().applied).toBeUndefined();
    expect(l.known.saved).toBeUndefined();
    expect(l.state().work.kind).toBe("idle");
  });

  it("paused: new data is checked and shown, never applied; a removed relation stops nothing; resume applies", async () => {
    const l = await running(A);
    await l.reconciler.pause("incident 42");
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.state().lastCheck?.config).toEqual(B);
    expect(l.runner.addresses()).toEqual([A.address]);
    const paused = view(l.state(), l.runner.snapshot(), false);
    expect(paused.phase).toBe(Phase.DEGRADED);
    expect(paused.message).toContain("paused (incident 42)");
    l.sources.set("removed");
    await l.reconciler.trigger();
    await vi.advanceTimersByTimeAsync(5000);
    expect(l.runner.stops).toBe(0);
    l.sources.set(B);
    await l.reconciler.resume();
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
  });

  it("a restart that fails is held and retried with backoff; nothing persisted until it succeeds", async () => {
    const l = await running(A);
    l.runner.failing = "the restart command exited 3";
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.state().work).toMatchObject({ kind: "held", why: "apply" });
    const held = view(l.state(), l.runner.snapshot(), false);
    expect(held.phase).toBe(Phase.DEGRADED);
    expect(held.message).toContain(`cannot apply ${B.address}: the restart command exited 3`);
    expect(l.state().applied?.config).toEqual(A);
    expect(l.known.saved?.current).toEqual(A);
    l.runner.failing = undefined;
    await vi.advanceTimersByTimeAsync(1200);
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
    expect(l.known.saved?.current).toEqual(B);
  });

  it("the state file unwritable: the new config runs all the same, and status says why until it can be written", async () => {
    const l = await running(A);
    l.known.failing = "EROFS";
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
    expect(l.state().persistError).toBe("EROFS");
    const v = view(l.state(), l.runner.snapshot(), false);
    expect(v.phase).toBe(Phase.RUNNING);
    expect(v.message).toContain("cannot persist the last-known-good config (EROFS)");
    l.known.failing = undefined;
    l.sources.set(C);
    await l.reconciler.trigger();
    expect(l.state().persistError).toBeUndefined();
    expect(l.known.saved?.current).toEqual(C);
  });

  it("re-checks the applied config into applied_check without restarting or touching last_check", async () => {
    const l = await running(A);
    const lastCheck = l.state().lastCheck;
    l.checker.verdicts.set(A.address, "NOT_SERVING");
    await l.reconciler.recheck();
    expect(l.state().appliedCheck?.diagnosis?.code).toBe("NOT_SERVING");
    expect(l.state().lastCheck).toBe(lastCheck);
    expect(l.runner.launches).toHaveLength(1);
  });

  it("an invalid relation leaves the running agent alone", async () => {
    const l = await running(A);
    l.sources.set("invalid");
    await l.reconciler.trigger();
    expect(l.state().resolution?.decision.kind).toBe("error");
    expect(l.runner.launches).toHaveLength(1);
    expect(l.runner.stops).toBe(0);
  });

  it("--unverified apply runs a failed config, re-checks it with backoff and promotes it once it passes", async () => {
    const l = loop({ unverified: "apply" });
    l.checker.verdicts.set(A.address, "NOT_SERVING");
    l.sources.set(A);
    await l.reconciler.start();
    expect(l.runner.addresses()).toEqual([A.address]);
    expect(l.state().applied?.stage).toBe("unchecked");
    expect(l.known.saves).toBe(0);
    l.checker.verdicts.set(A.address, "ok");
    await vi.advanceTimersByTimeAsync(1200);
    expect(l.state().applied?.stage).toBe("trusted");
    expect(l.known.saved?.current).toEqual(A);
    expect(l.runner.launches).toHaveLength(1);
  });

  it("starts the last-known-good without waiting for the store", async () => {
    const known = new MemoryKnownGood({ current: A, appliedAt: "then" });
    const l = loop({ known });
    l.checker.holding = true;
    l.sources.set(B);
    const started = l.reconciler.start();
    await settle();
    expect(l.runner.addresses()).toEqual([A.address]);
    expect(l.state().work).toMatchObject({ kind: "checking", config: B });
    l.checker.release();
    await started;
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
  });
});

describe("delivery: a new config proves itself with an OK write of the agent", () => {
  /** A loop whose agent delivered with A: metrics are expected from the next agent on. */
  async function delivering() {
    const l = await running(A, { delivery: { expected: true } });
    l.metrics.answers = true;
    l.metrics.ok = 3;
    await vi.advanceTimersByTimeAsync(1000);
    expect(l.state().delivery?.state).toBe("DELIVERING");
    expect(l.known.saved?.current).toEqual(A);
    return l;
  }

  it("stays pending (not the last-known-good, rollback target kept) until an OK write", async () => {
    const l = await delivering();
    l.metrics.ok = 0;
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.state().applied).toMatchObject({ config: B, stage: "proving", rollbackTo: A });
    expect(l.known.saved?.current).toEqual(A);
    // --min-uptime-ms passes: a pending config keeps its rollback target.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(l.state().applied?.rollbackTo).toEqual(A);
    l.metrics.ok = 1;
    await vi.advanceTimersByTimeAsync(1000);
    expect(l.state().applied?.stage).toBe("trusted");
    expect(l.known.saved?.current).toEqual(B);
    expect(l.state().delivery?.state).toBe("DELIVERING");
    const status = buildStatus(
      l.state(),
      l.runner.snapshot(),
      view(l.state(), l.runner.snapshot(), false),
      [],
    );
    expect(status.phase).toBe(Phase.RUNNING);
  });

  it("failed writes until the timeout: rolled back, AGENT_WRITES_FAILING naming the agent's code", async () => {
    const l = await delivering();
    l.metrics.ok = 0;
    l.sources.set(B);
    await l.reconciler.trigger();
    l.metrics.failed = 7;
    l.metrics.code = "ResourceExhausted";
    await vi.advanceTimersByTimeAsync(59_000);
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(l.runner.addresses()).toEqual([A.address, B.address, A.address]);
    expect(l.state().rejected).toMatchObject({ config: B, code: "AGENT_WRITES_FAILING" });
    expect(l.state().rejected?.reason).toContain("ResourceExhausted");
    expect(l.known.saved?.current).toEqual(A);
    // Not tried again for the same data; a reload tries it again.
    await l.reconciler.trigger();
    expect(l.runner.launches).toHaveLength(3);
    await l.reconciler.reload();
    expect(l.runner.addresses().at(-1)).toBe(B.address);
  });

  it("metrics that never answer: AGENT_NOT_CONNECTED; answering without a write: AGENT_NOT_DELIVERING", async () => {
    const l = await delivering();
    l.metrics.answers = false;
    l.sources.set(B);
    await l.reconciler.trigger();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(l.state().rejected?.code).toBe("AGENT_NOT_CONNECTED");
    expect(l.runner.addresses().at(-1)).toBe(A.address);

    l.metrics.answers = true;
    l.metrics.ok = 0;
    l.sources.set(C);
    await l.reconciler.trigger();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(l.state().rejected?.code).toBe("AGENT_NOT_DELIVERING");
    expect(l.runner.addresses().at(-1)).toBe(A.address);
  });

  it("nothing to roll back to: DEGRADED and reported, the agent left running, no restart", async () => {
    const l = await running(A, { delivery: { expected: true } });
    l.metrics.answers = true;
    l.metrics.failed = 2;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(l.runner.launches).toHaveLength(1);
    expect(l.state().delivery?.problem?.code).toBe("AGENT_WRITES_FAILING");
    const v = view(l.state(), l.runner.snapshot(), false);
    expect(v.phase).toBe(Phase.DEGRADED);
    expect(v.ready).toBe(true);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(l.runner.launches).toHaveLength(1);
  });

  it("no metrics expected or seen: not pending, the last-known-good at once, UNKNOWN blocks nothing", async () => {
    const l = await running(A, { delivery: { expected: false } });
    expect(l.state().applied?.stage).toBe("trusted");
    expect(l.known.saved?.current).toEqual(A);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(l.state().delivery?.state).toBe("UNKNOWN");
    expect(view(l.state(), l.runner.snapshot(), false).phase).toBe(Phase.RUNNING);
  });

  it("delivery failing later: DEGRADED, readiness as the running config, never a restart", async () => {
    const l = await delivering();
    for (let minute = 1; minute <= 6; minute++) {
      l.metrics.failed += 5;
      await vi.advanceTimersByTimeAsync(60_000);
    }
    expect(l.state().delivery?.state).toBe("FAILING");
    expect(view(l.state(), l.runner.snapshot(), false)).toMatchObject({
      phase: Phase.DEGRADED,
      ready: true,
    });
    expect(l.runner.launches).toHaveLength(1);
  });
});

describe("the check during the quiet period", () => {
  it("starts on the first event; the settled data uses its result, with no second check", async () => {
    const l = await running(A);
    const eventAt = performance.now();
    l.sources.set(B);
    await l.reconciler.prefetch();
    expect(l.checker.addresses()).toEqual([A.address, B.address]);
    vi.advanceTimersByTime(10);
    await l.reconciler.trigger(eventAt);
    expect(l.checker.calls).toHaveLength(2);
    expect(l.runner.addresses()).toEqual([A.address, B.address]);
    expect(l.reactions.at(-1)).toBe(10);
  });

  it("newer data aborts the early check; the aborted check is never reported", async () => {
    const l = await running(A);
    l.checker.holding = true;
    const eventAt = performance.now();
    l.sources.set(B);
    await l.reconciler.prefetch();
    l.sources.set(C);
    await l.reconciler.prefetch();
    expect(l.checker.aborted()).toEqual([B.address]);
    l.checker.release();
    await l.reconciler.trigger(eventAt);
    expect(l.checker.addresses()).toEqual([A.address, B.address, C.address]);
    expect(l.runner.addresses()).toEqual([A.address, C.address]);
    expect(l.counted).toEqual([`${A.address} ok`, `${C.address} ok`]);
  });

  it("settled data that differs from the early read gets its own check", async () => {
    const l = await running(A);
    const eventAt = performance.now();
    l.sources.set(B);
    await l.reconciler.prefetch();
    l.sources.set(C);
    await l.reconciler.trigger(eventAt);
    expect(l.checker.addresses()).toEqual([A.address, B.address, C.address]);
    expect(l.runner.addresses()).toEqual([A.address, C.address]);
    expect(l.counted).toEqual([`${A.address} ok`, `${C.address} ok`]);
  });

  it("keeps the no-op rule and the retry backoff", async () => {
    const l = await running(A);
    await l.reconciler.prefetch();
    expect(l.checker.calls).toHaveLength(1);
    l.checker.verdicts.set(B.address, "CONNECTION_REFUSED");
    l.sources.set(B);
    await l.reconciler.trigger();
    expect(l.checker.calls).toHaveLength(2);
    for (let i = 0; i < 5; i++) await l.reconciler.prefetch();
    expect(l.checker.calls).toHaveLength(2);
  });

  it("a result from before the change is never reused", async () => {
    const l = await running(A);
    l.sources.set(B);
    await l.reconciler.prefetch();
    vi.advanceTimersByTime(1000);
    // The settled change began after that early check started: it gets a fresh one.
    await l.reconciler.trigger(performance.now());
    expect(l.checker.addresses()).toEqual([A.address, B.address, B.address]);
  });

  it("a burst of 1,000 writes: one restart with the last data, a handful of checks", async () => {
    const l = await running(A);
    l.checker.holding = true;
    const eventAt = performance.now();
    await l.reconciler.prefetch();
    for (let i = 1; i <= 1000; i++) {
      l.sources.set(store(`burst-${i}.example:7070`));
      vi.advanceTimersByTime(1);
    }
    l.checker.holding = false;
    l.checker.release();
    await l.reconciler.trigger(eventAt);
    expect(l.runner.addresses()).toEqual([A.address, "burst-1000.example:7070"]);
    expect(l.checker.calls.length).toBeLessThanOrEqual(3);
  });
});
