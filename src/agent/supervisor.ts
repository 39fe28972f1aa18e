import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { execa, type ResultPromise } from "execa";
import type { Logger } from "pino";
import type { Secrets } from "../log.js";
import { writeFileAtomic } from "./atomic.js";
import { redactArgv } from "./flags.js";
import { stopGroup } from "./group.js";
import { identify, type ProcessIdentity, pgidOf, processesWithEnv, sameProcess } from "./proc.js";
import {
  type AgentSnapshot,
  type AgentState,
  type ExitInfo,
  type Launch,
  Listeners,
  type Runner,
  type RunnerEvent,
  SerialQueue,
  TAIL_LINES,
} from "./runner.js";
import { writeTokenFile } from "./token-file.js";

/** The agent's environment marker: finds an agent of this state dir even without a pidfile. */
export const STATE_MARKER = "PARCA_AGENT_SIDECAR_STATE";
export const PIDFILE_NAME = "agent.pid";

export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Uptime after which the next crash starts from `initialMs` again. */
  readonly resetAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 };

export interface SupervisorOptions {
  readonly agentPath: string;
  /** The state dir's realpath: pidfile, and the agent's environment marker. */
  readonly stateDir: string;
  readonly stopTimeoutMs: number;
  /** The environment the agent inherits (before the launch's unsets). */
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly secrets: Secrets;
  readonly backoff?: Backoff;
  /** Where the agent's output lines go (already scrubbed); default: the log. */
  readonly output?: (stream: "stdout" | "stderr", line: string) => void;
}

interface Pidfile extends ProcessIdentity {
  readonly pgid: number;
}

interface Child {
  readonly process: ResultPromise;
  readonly pgid: number;
  readonly launch: Launch;
  readonly startedAt: Date;
  /** Set when the sidecar asked it to stop: its exit is not a crash. */
  stopping: boolean;
  readonly done: Promise<void>;
}

/** The delay before restart number `attempt` (0-based): doubling, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, backoff: Backoff, random = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.min(backoff.maxMs, Math.round(base * (0.8 + 0.4 * random())));
}

/**
 * Runs the agent as a child in its own process group, restarts it when it crashes (backoff with
 * jitter, never giving up), and stops the whole group, so nothing of an old agent survives.
 */
export class Supervisor implements Runner {
  private readonly listeners = new Listeners<RunnerEvent>();
  private readonly backoff: Backoff;
  private readonly stderrTail: string[] = [];
  private readonly queue = new SerialQueue();
  private child: Child | undefined;
  private desired: Launch | undefined;
  private state: AgentState = "STOPPED";
  private starts = 0;
  private crashes = 0;
  private lastExit: ExitInfo | undefined;
  private error: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  subscribe(listener: (event: RunnerEvent) => void): () => void {
    return this.listeners.subscribe(listener);
  }

  snapshot(): AgentSnapshot {
    const child = this.child;
    return {
      state: this.state,
      pid: child?.process.pid ?? 0,
      restarts: Math.max(0, this.starts - 1),
      ...(child ? { startedAt: child.startedAt } : {}),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      running: this.state === "RUNNING" || this.state === "STARTING",
      args: child ? redactArgv(child.launch.argv) : [],
      ...(this.error ? { error: this.error } : {}),
    };
  }

  apply(launch: Launch): Promise<void> {
    return this.queue.run(async () => {
      // The token file first: if it cannot be written, the running agent is left untouched.
      if (launch.tokenFile) await writeTokenFile(launch.tokenFile);
      this.desired = launch;
      this.crashes = 0;
      await this.stopChild();
      await this.start(launch);
    });
  }

  stop(): Promise<void> {
    return this.queue.run(async () => {
      this.desired = undefined;
      await this.stopChild();
      this.setState("STOPPED");
    });
  }

  /**
   * Stops a predecessor's agent left running by a sidecar that died: the group in the pidfile
   * when its leader's start time and executable still match, and any group whose processes carry
   * this state dir's marker. Never signals anything that matches neither.
   */
  async reapPredecessors(): Promise<number[]> {
    const pgids = new Set<number>();
    const pidfile = await this.readPidfile();
    if (pidfile && sameProcess(pidfile)) pgids.add(pidfile.pgid);
    for (const pid of processesWithEnv(STATE_MARKER, this.options.stateDir)) {
      const pgid = pgidOf(pid);
      if (pgid !== undefined) pgids.add(pgid);
    }
    const own = pgidOf(process.pid);
    const reaped: number[] = [];
    for (const pgid of pgids) {
      if (pgid <= 1 || pgid === own || pgid === this.child?.pgid) continue;
      const how = await stopGroup(pgid, this.options.stopTimeoutMs);
      this.options.log.warn(
        { event: "predecessor_stopped", pgid, how },
        "stopped an agent left by a previous sidecar",
      );
      reaped.push(pgid);
    }
    await rm(this.pidfilePath(), { force: true });
    return reaped;
  }

  private setState(state: AgentState): void {
    if (this.state === state) return;
    this.state = state;
    this.listeners.emit({ type: "state" });
  }

  private pidfilePath(): string {
    return join(this.options.stateDir, PIDFILE_NAME);
  }

  private async readPidfile(): Promise<Pidfile | undefined> {
    try {
      const data = JSON.parse(await readFile(this.pidfilePath(), "utf8"));
      if (typeof data.pid === "number" && typeof data.pgid === "number") return data as Pidfile;
    } catch {
      // no pidfile, or not ours: nothing to trust
    }
    return undefined;
  }

  private childEnv(launch: Launch): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...this.options.env, [STATE_MARKER]: this.options.stateDir };
    for (const name of launch.unsetEnv) delete env[name];
    return env;
  }

  private async start(launch: Launch): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.setState("STARTING");
    this.starts++;
    this.error = undefined;
    const { log } = this.options;
    const subprocess = execa(this.options.agentPath, [...launch.argv], {
      env: this.childEnv(launch),
      extendEnv: false,
      detached: true,
      cleanup: false,
      reject: false,
      buffer: false,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const pid = subprocess.pid;
    if (pid === undefined) {
      const result = await subprocess;
      this.error = `cannot start ${this.options.agentPath}: ${result.originalMessage || result.shortMessage}`;
      log.error(
        { event: "agent_start_failed", agent: this.options.agentPath, error: this.error },
        "the agent did not start",
      );
      this.lastExit = { code: -1, signal: "", at: new Date(), stderrTail: [this.error] };
      this.onCrash(undefined, this.lastExit, 0, launch);
      return;
    }
    const identity = identify(pid);
    const startedAt = new Date();
    const child: Child = {
      process: subprocess,
      pgid: pid,
      launch,
      startedAt,
      stopping: false,
      done: subprocess.then((result) => {
        const exit: ExitInfo = {
          code: result.exitCode ?? -1,
          signal: result.signal ?? "",
          at: new Date(),
          stderrTail: [...this.stderrTail],
        };
        if (this.child === child) this.child = undefined;
        this.lastExit = exit;
        if (!child.stopping) this.onCrash(child, exit, Date.now() - startedAt.getTime(), launch);
      }),
    };
    this.child = child;
    this.forward(subprocess);
    if (identity) {
      const pidfile = JSON.stringify({ ...identity, pgid: pid } satisfies Pidfile);
      await writeFileAtomic(this.pidfilePath(), pidfile, 0o600, false).catch((err: unknown) =>
        // The agent runs; a successor still finds it by its environment marker.
        log.warn(
          {
            event: "pidfile_write_failed",
            path: this.pidfilePath(),
            error: (err as Error).message,
          },
          "cannot write the pidfile",
        ),
      );
    }
    log.info({ event: "agent_started", pid, args: redactArgv(launch.argv) }, "agent started");
    if (this.child === child) this.setState("RUNNING");
  }

  private forward(subprocess: ResultPromise): void {
    const { secrets, log } = this.options;
    const output =
      this.options.output ?? ((stream, line) => log.info({ event: "agent_output", stream }, line));
    for (const stream of ["stdout", "stderr"] as const) {
      const source = subprocess[stream];
      if (!source) continue;
      createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (raw) => {
        const line = secrets.scrub(raw);
        if (stream === "stderr") {
          this.stderrTail.push(line);
          if (this.stderrTail.length > TAIL_LINES) this.stderrTail.shift();
        }
        output(stream, line);
      });
    }
  }

  /** An exit nobody asked for: clear what is left of the group, report, schedule a restart. */
  private onCrash(
    child: Child | undefined,
    exit: ExitInfo,
    uptimeMs: number,
    launch: Launch,
  ): void {
    if (uptimeMs >= this.backoff.resetAfterMs) this.crashes = 0;
    const delayMs = backoffDelay(this.crashes++, this.backoff);
    this.options.log.warn(
      {
        event: "agent_exited",
        code: exit.code,
        signal: exit.signal,
        uptimeMs,
        restartInMs: delayMs,
        crashes: this.crashes,
      },
      "the agent exited; restarting after a backoff",
    );
    this.setState("BACKOFF");
    this.listeners.emit({ type: "exit", exit, uptimeMs, launch });
    // The leader is gone, but its re-executed child may live on: nothing of it may survive.
    if (child) void this.queue.run(() => this.clearGroup(child.pgid));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.queue.run(async () => {
        if (this.desired === launch && this.child === undefined && this.state === "BACKOFF")
          await this.start(launch);
      });
    }, delayMs);
  }

  private async clearGroup(pgid: number): Promise<void> {
    await stopGroup(pgid, this.options.stopTimeoutMs);
    await rm(this.pidfilePath(), { force: true });
  }

  private async stopChild(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const child = this.child;
    if (child === undefined) return;
    child.stopping = true;
    this.setState("STOPPING");
    const how = await stopGroup(child.pgid, this.options.stopTimeoutMs, child.done);
    await child.done;
    await rm(this.pidfilePath(), { force: true });
    this.options.log.info({ event: "agent_stopped", pid: child.pgid, how }, "agent stopped");
  }
}
