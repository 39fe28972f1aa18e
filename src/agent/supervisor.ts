import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { type Backoff, DEFAULT_BACKOFF, RetryTimer } from "../core/backoff.js";
import { Listeners } from "../core/listeners.js";
import { SerialQueue } from "../core/serial-queue.js";
import type { Problem } from "../problem.js";
import { redactArgv, type Secrets } from "../secrets.js";
import { agentEnv, type Child, readAgentOutput, spawnAgent, startFailure } from "./child.js";
import { groupRemains, stopAgentGroup } from "./group.js";
import { logSink, type OutputSink } from "./output.js";
import { Pidfile } from "./pidfile.js";
import { identify } from "./proc.js";
import type { AgentSnapshot, AgentState, ExitInfo, Launch, Runner, RunnerEvent } from "./runner.js";
import { removeTokenFile, writeTokenFile } from "./token-file.js";
import { runningArgsDrift } from "./verify.js";
import { watchWorker } from "./worker-watch.js";

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
  readonly output?: OutputSink;
}

/** When the agent's argv is looked at a second time after its start. */
const ARGS_RECHECK_MS = 2000;

/** How long a crash report waits for the agent's last output lines. */
const OUTPUT_GRACE_MS = 100;

/**
 * Runs the agent as a child in its own process group, restarts it when it crashes (backoff with
 * jitter, never giving up), and stops the whole group, so nothing of an old agent survives.
 */
export class Supervisor implements Runner {
  private readonly listeners = new Listeners<RunnerEvent>();
  private readonly backoff: Backoff;
  /** Exits the agent made by itself since the sidecar started. */
  private crashes = 0;
  /** Crash restarts: the attempt count is the crash count since the last long-enough uptime. */
  private readonly restartTimer: RetryTimer;
  private readonly pidfile: Pidfile;
  private readonly stderrTail: string[] = [];
  private readonly queue = new SerialQueue();
  private child: Child | undefined;
  private desired: Launch | undefined;
  private state: AgentState = "STOPPED";
  private starts = 0;
  private lastExit: ExitInfo | undefined;
  /** The running agent's last warning or error line; cleared at each start. */
  private lastWords: string | undefined;
  /** Why the last start failed (AGENT_START_FAILED), until a start succeeds. */
  private problem: Problem | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.restartTimer = new RetryTimer(this.backoff);
    this.pidfile = new Pidfile(options.stateDir, options.log);
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
      prepared: this.starts > 0,
      crashes: this.crashes,
      ...(child ? { startedAt: child.startedAt } : {}),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      running: child !== undefined && (this.state === "RUNNING" || this.state === "STARTING"),
      args: child ? redactArgv(child.launch.argv) : [],
      ...(this.lastWords ? { lastWords: this.lastWords } : {}),
      ...(this.problem ? { problem: this.problem, error: this.problem.message } : {}),
    };
  }

  apply(launch: Launch): Promise<void> {
    return this.queue.run(async () => {
      // The token file first: if it cannot be written, the running agent is left untouched.
      if (launch.tokenFile) await writeTokenFile(launch.tokenFile);
      this.desired = launch;
      this.restartTimer.reset();
      await this.stopChild({ drain: false });
      await this.start(launch);
    });
  }

  stop(): Promise<void> {
    return this.queue.run(async () => {
      const tokenFile = this.desired?.tokenFile;
      this.desired = undefined;
      await this.stopChild({ drain: true });
      this.setState("STOPPED");
      if (tokenFile) await removeTokenFile(tokenFile.path, this.options.log);
    });
  }

  /** Stops an agent left running by a predecessor on this state dir (see Pidfile). */
  reapPredecessors(): Promise<number[]> {
    return this.pidfile.reapPredecessors(this.options.stopTimeoutMs, this.child?.pgid);
  }

  private setState(state: AgentState): void {
    if (this.state === state) return;
    this.state = state;
    this.listeners.emit({ type: "state" });
  }

  private async start(launch: Launch): Promise<void> {
    this.restartTimer.cancel();
    const { log } = this.options;
    const env = agentEnv(this.options.env, this.options.stateDir, launch);
    const subprocess = spawnAgent(this.options.agentPath, launch.argv, env);
    const pid = subprocess.pid;
    if (pid === undefined) {
      this.problem = await startFailure(this.options.agentPath, subprocess);
      log.error(
        { event: "agent_start_failed", agent: this.options.agentPath, error: this.problem.message },
        "the agent did not start",
      );
      this.lastExit = { code: -1, signal: "", at: new Date(), stderrTail: [this.problem.message] };
      this.onCrash(undefined, this.lastExit, 0, launch);
      return;
    }
    this.problem = undefined;
    this.starts++;
    this.setState("STARTING");
    const identity = identify(pid);
    const startedAt = new Date();
    const done = subprocess.then(() => undefined);
    const child: Child = {
      process: subprocess,
      pgid: pid,
      launch,
      startedAt,
      stopping: false,
      workerExited: false,
      unwatch: () => undefined,
      // The agent's state follows its leader's exit, not its output: a re-executed worker
      // that outlives its parent keeps the pipes open.
      exited: new Promise((resolve) =>
        subprocess.once("exit", (code, signal) => {
          resolve();
          child.unwatch();
          if (child.workerExited) {
            if (this.child === child) this.child = undefined;
            return;
          }
          const uptimeMs = Date.now() - startedAt.getTime();
          // Its last lines (a panic) are read first, unless what is left of its group holds
          // the pipes: then they end only once that is stopped, which must not wait.
          const held = groupRemains(child.pgid);
          void (held ? Promise.resolve() : Promise.race([done, sleep(OUTPUT_GRACE_MS)])).then(
            () => {
              const exit: ExitInfo = {
                code: code ?? -1,
                signal: signal ?? "",
                at: new Date(),
                stderrTail: [...this.stderrTail],
                ...(child.stopping ? { planned: true } : {}),
              };
              if (this.child === child) this.child = undefined;
              this.lastExit = exit;
              if (!child.stopping) this.onCrash(child, exit, uptimeMs, launch);
            },
          );
        }),
      ),
      done,
    };
    this.child = child;
    child.unwatch = watchWorker(
      pid,
      (worker) => log.info({ event: "agent_worker", pid: worker }, "the agent's worker runs"),
      () => this.onWorkerExit(child, -1),
    );
    const sink: OutputSink = this.options.output ?? logSink(log);
    this.lastWords = undefined;
    readAgentOutput(subprocess, this.options.secrets, sink, this.stderrTail, {
      workerEnded: (code) => this.onWorkerExit(child, code),
      trouble: (line) => {
        if (this.child !== child) return;
        this.lastWords = line;
        this.listeners.emit({ type: "state" });
      },
    });
    this.verifyArgs(child);
    // A wrapper script may exec the agent with flags of its own: looked at again in a moment.
    setTimeout(() => this.verifyArgs(child), ARGS_RECHECK_MS).unref();
    if (identity) await this.pidfile.write(identity, pid);
    log.info({ event: "agent_started", pid, args: redactArgv(launch.argv) }, "agent started");
    if (this.child === child) this.setState("RUNNING");
  }

  /** The leader's real argv must carry the rendered managed flags (AGENT_ARGS_DRIFT). */
  private verifyArgs(child: Child): void {
    if (this.child !== child) return;
    const { flags, problem } = runningArgsDrift(child.pgid, child.launch.argv);
    if (problem?.code === this.problem?.code) return;
    this.problem = problem;
    if (problem) this.options.log.warn({ event: "agent_args_drift", flags }, problem.message);
    this.listeners.emit({ type: "state" });
  }

  /** The worker exited while its parent lives on (reporting to the store for up to 5 min). */
  private onWorkerExit(child: Child, code: number): void {
    const uptimeMs = Date.now() - child.startedAt.getTime();
    // A parent that follows its worker at once reports through its own exit; the worker's last
    // words reach us through the parent's stderr meanwhile.
    const leaderFollowed = Promise.race([
      child.exited.then(() => true),
      sleep(OUTPUT_GRACE_MS).then(() => false),
    ]);
    void leaderFollowed.then((followed) => {
      if (followed || this.child !== child || child.stopping) return;
      child.stopping = true;
      child.workerExited = true;
      const at = new Date();
      this.lastExit = { code, signal: "", at, stderrTail: [...this.stderrTail], worker: true };
      this.onCrash(child, this.lastExit, uptimeMs, child.launch);
    });
  }

  /** An exit nobody asked for: clear what is left of the group, report, schedule a restart. */
  private onCrash(
    child: Child | undefined,
    exit: ExitInfo,
    uptimeMs: number,
    launch: Launch,
  ): void {
    if (uptimeMs >= this.backoff.resetAfterMs) this.restartTimer.reset();
    const delayMs = this.restartTimer.schedule(() => {
      void this.queue.run(async () => {
        if (this.desired === launch && this.child === undefined && this.state === "BACKOFF")
          await this.start(launch);
      });
    });
    this.crashes++;
    this.options.log.warn(
      {
        event: "agent_exited",
        ...(exit.worker ? { worker: true } : {}),
        code: exit.code,
        signal: exit.signal,
        uptimeMs,
        restartInMs: delayMs,
        crashes: this.restartTimer.attempts,
      },
      exit.worker
        ? "the agent's worker exited; stopping its parent and restarting after a backoff"
        : "the agent exited; restarting after a backoff",
    );
    this.setState("BACKOFF");
    this.listeners.emit({ type: "exit", exit, uptimeMs, launch });
    // What is left of the group (the worker of a killed parent, the parent of a dead worker,
    // a wrapper's agent) is stopped at once: nothing manages it any more.
    if (child) void this.queue.run(() => this.clearGroup(child));
  }

  private async clearGroup(child: Child): Promise<void> {
    const how = await stopAgentGroup(child.pgid, this.options.stopTimeoutMs, child.exited);
    if (this.child === child) this.child = undefined;
    if (how !== "none")
      this.options.log.warn(
        { event: "agent_leftovers_stopped", pgid: child.pgid, how },
        "stopped what was left of the agent",
      );
    await this.pidfile.remove();
  }

  /**
   * Stops the agent's whole group. `drain`: also wait until its last output lines were read
   * (at shutdown); a restart need not wait for that once every process of the group is gone.
   */
  private async stopChild({ drain }: { readonly drain: boolean }): Promise<void> {
    this.restartTimer.cancel();
    const child = this.child;
    if (child === undefined) return;
    child.stopping = true;
    child.unwatch();
    this.setState("STOPPING");
    const how = await stopAgentGroup(child.pgid, this.options.stopTimeoutMs, child.exited);
    if (drain) await child.done;
    await this.pidfile.remove();
    this.options.log.info({ event: "agent_stopped", pid: child.pgid, how }, "agent stopped");
  }
}
