// Fakes of the loop's own interfaces (SourceReader, Checker, Runner, KnownGoodStore), for the
// fast loop tests: no files, no sockets, no processes; timers are vitest's fake ones.
import type {
  AgentSnapshot,
  ExitInfo,
  Launch,
  Runner,
  RunnerEvent,
} from "../../src/agent/runner.js";
import { Listeners } from "../../src/core/listeners.js";
import { problem } from "../../src/problem.js";
import type { Checker } from "../../src/reconcile/checker.js";
import type { ReconcilerOptions } from "../../src/reconcile/options.js";
import { RelationError } from "../../src/relation/errors.js";
import type { SourceReader } from "../../src/relation/reader.js";
import type { SourceRead } from "../../src/relation/source.js";
import { decide, type Resolution } from "../../src/relation/sources.js";
import type { StoreConfig } from "../../src/relation/types.js";
import type { KnownGoodRecord, KnownGoodStore } from "../../src/state-dir/known-good-file.js";
import { type CheckResult, failedCheck } from "../../src/store/check.js";

const PATH = "/relation.json";

type Parts = "sources" | "runner" | "checker" | "knownGood" | "log" | "secrets";

/** The loop's options as the loop tests run it (node n1, 2 s removal grace, 10 s uptime, 1 s retry), `parts` and `more` over them. */
export function loopOptions(
  parts: Pick<ReconcilerOptions, Parts> & Partial<ReconcilerOptions>,
): ReconcilerOptions {
  return {
    baseArgs: ["--node=n1"],
    render: { tokenMode: "flag", stateDir: "/state" },
    unverified: "hold",
    onRemove: "stop",
    removeGraceMs: 2000,
    minUptimeMs: 10_000,
    retry: { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 },
    ...parts,
  };
}

export const store = (address: string, token?: string): StoreConfig => ({
  address,
  insecure: true,
  ...(token ? { token } : {}),
});

/** The relation data, set by the test; every read counts. */
export class FakeSources implements SourceReader {
  reads = 0;
  private current: SourceRead = { kind: "missing", path: PATH };

  set(config: StoreConfig | "removed" | "invalid"): void {
    if (config === "removed") this.current = { kind: "missing", path: PATH };
    else if (config === "invalid") {
      const error = new RelationError("MALFORMED", "not JSON", "write JSON", PATH);
      this.current = { kind: "error", path: PATH, error };
    } else this.current = { kind: "configured", path: PATH, config, warnings: [] };
  }

  async read(): Promise<Resolution> {
    this.reads++;
    return decide([this.current]);
  }

  missing() {
    return [];
  }
}

interface Call {
  readonly config: StoreConfig;
  readonly signal: AbortSignal | undefined;
  settled: boolean;
  resolve(result: CheckResult): void;
}

/**
 * Answers checks by address: "ok", or a diagnosis code to fail with. `holding` keeps every new
 * check open until `release()`; an aborted check settles at once.
 */
export class FakeChecker implements Checker {
  readonly calls: Call[] = [];
  readonly verdicts = new Map<string, string>();
  holding = false;

  check(config: StoreConfig, signal?: AbortSignal): Promise<CheckResult> {
    return new Promise<CheckResult>((resolve) => {
      const call: Call = { config, signal, settled: false, resolve };
      call.resolve = (result) => {
        if (call.settled) return;
        call.settled = true;
        resolve(result);
      };
      this.calls.push(call);
      signal?.addEventListener("abort", () => call.resolve(this.verdict(config, "UNKNOWN")));
      if (!this.holding) call.resolve(this.verdict(config));
    });
  }

  /** Lets every open check answer with its verdict. */
  release(): void {
    for (const call of this.calls) call.resolve(this.verdict(call.config));
  }

  addresses(): string[] {
    return this.calls.map((c) => c.config.address);
  }

  aborted(): string[] {
    return this.calls.filter((c) => c.signal?.aborted).map((c) => c.config.address);
  }

  private verdict(config: StoreConfig, forced?: string): CheckResult {
    const code = forced ?? this.verdicts.get(config.address) ?? "ok";
    if (code === "ok") {
      const r = { address: config.address, insecure: config.insecure };
      return { ok: true, ...r, stages: [], warnings: [], durationMs: 1 };
    }
    const diagnosis = problem(code, `${code} at ${config.address}`, "fix it");
    return failedCheck(config.address, config.insecure, diagnosis);
  }
}

/** A Runner that starts nothing: it records launches and crashes on demand. */
export class FakeRunner implements Runner {
  readonly launches: Launch[] = [];
  stops = 0;
  /** The next applies fail with this message (a restart command that fails), until cleared. */
  failing: string | undefined;
  private running = false;
  private backoff = false;
  /** When the agent process running now started. */
  private startedAt: Date | undefined;
  private readonly listeners = new Listeners<RunnerEvent>();

  async apply(launch: Launch): Promise<void> {
    if (this.failing !== undefined) throw new Error(this.failing);
    this.launches.push(launch);
    this.running = true;
    this.startedAt = new Date();
    this.backoff = false;
    this.listeners.emit({ type: "state" });
  }

  async stop(): Promise<void> {
    this.stops++;
    this.running = false;
    this.listeners.emit({ type: "state" });
  }

  /** The agent of the last launch exits by itself after `uptimeMs`; it waits out a backoff. */
  crash(uptimeMs: number): void {
    const launch = this.launches.at(-1);
    if (launch === undefined) throw new Error("nothing runs");
    this.running = false;
    this.backoff = true;
    const exit: ExitInfo = { code: 1, signal: "", at: new Date(), stderrTail: ["boom"] };
    this.listeners.emit({ type: "exit", exit, uptimeMs, launch });
  }

  /** The backoff is over: the same launch runs again. */
  recover(): void {
    this.running = true;
    this.startedAt = new Date();
    this.backoff = false;
    this.listeners.emit({ type: "state" });
  }

  /** The store address each launch ran with. */
  addresses(): string[] {
    return this.launches.map((l) => l.store.address);
  }

  snapshot(): AgentSnapshot {
    const launch = this.launches.at(-1);
    return {
      state: this.backoff ? "BACKOFF" : this.running ? "RUNNING" : "STOPPED",
      pid: this.running ? 4242 : 0,
      restarts: Math.max(0, this.launches.length - 1),
      running: this.running,
      ...(this.running && this.startedAt ? { startedAt: this.startedAt } : {}),
      args: launch && this.running ? [...launch.argv] : [],
    };
  }

  subscribe(listener: (event: RunnerEvent) => void): () => void {
    return this.listeners.subscribe(listener);
  }
}

/** The last-known-good in memory. */
export class MemoryKnownGood implements KnownGoodStore {
  readonly path = "memory:last-known-good";
  saved: KnownGoodRecord | undefined;
  saves = 0;
  /** Writes fail with this errno code (a full or read-only disk), until cleared. */
  failing: string | undefined;

  constructor(initial?: KnownGoodRecord) {
    this.saved = initial;
  }

  async load(): Promise<KnownGoodRecord | undefined> {
    return this.saved;
  }

  async save(state: KnownGoodRecord): Promise<void> {
    if (this.failing !== undefined)
      throw Object.assign(new Error(`${this.failing}: cannot write`), { code: this.failing });
    this.saves++;
    this.saved = state;
  }

  async clear(): Promise<void> {
    this.saved = undefined;
  }
}
