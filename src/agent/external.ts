import type { Logger } from "pino";
import { writeFileAtomic } from "../core/atomic.js";
import { everyJittered } from "../core/backoff.js";
import { errnoOrMessage } from "../core/errors.js";
import { Listeners } from "../core/listeners.js";
import { SerialQueue } from "../core/serial-queue.js";
import { type Problem, problem } from "../problem.js";
import { redactArgv, type Secrets } from "../secrets.js";
import { type CommandOutcome, runCommandGroup } from "./command.js";
import { type FlagsFormat, FlagsFormatError, formatFlagsFile } from "./flags-file.js";
import type { AgentLocator, Seen, Verification } from "./locate.js";
import { type PodRestart, restartPodAgent } from "./pod.js";
import {
  type AgentSnapshot,
  ApplyError,
  type ExitInfo,
  type Launch,
  type Runner,
  type RunnerEvent,
  TAIL_LINES,
} from "./runner.js";
import { removeTokenFile, writeTokenFile } from "./token-file.js";

export interface ExternalOptions {
  readonly flagsFile: string;
  readonly format: FlagsFormat;
  /** `yaml`: the operator's own agent config, kept under the managed keys. */
  readonly configBase?: Readonly<Record<string, unknown>>;
  /** argv of the restart command (already split; never run by a shell). */
  readonly restartCommand?: readonly string[];
  readonly stopCommand?: readonly string[];
  /** A restart or stop command running longer is killed with its process group. */
  readonly commandTimeoutMs: number;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly secrets: Secrets;
  /** How to find the running agent, to verify what runs (never to signal it). */
  readonly locator?: AgentLocator;
  /** How often what runs is looked at again, finding the agent afresh. */
  readonly verifyEveryMs?: number;
  /**
   * In a pod, without a restart command: the agent process to restart (signalled, then started
   * again by the kubelet), how long it gets to stop and how long the kubelet may take.
   */
  readonly podAgent?: PodRestart;
}

/**
 * Drives an agent managed elsewhere: writes the rendered flags to a file atomically, then runs
 * the restart command (systemd, snap) or, in a pod, stops the agent's worker for the kubelet to
 * start it again. "The agent runs" means the last restart succeeded.
 */
export class ExternalRunner implements Runner {
  private readonly listeners = new Listeners<RunnerEvent>();
  private readonly queue = new SerialQueue();
  private launch: Launch | undefined;
  private running = false;
  private restarts = 0;
  private startedAt: Date | undefined;
  private lastExit: ExitInfo | undefined;
  private error: string | undefined;
  /** The agent process last found, and what keeps it from running as rendered. */
  private seen: Seen | undefined;
  private problem: Problem | undefined;
  /** Why the last restart failed (RESTART_FAILED, AGENT_AMBIGUOUS, …); cleared by one that works. */
  private restartProblem: Problem | undefined;
  /** What a restart in progress waits for, for status. */
  private waiting: string | undefined;
  /** A flags file for a launch was written once: the agent may start (health `startup`). */
  private prepared = false;
  private stopLooking: (() => void) | undefined;

  constructor(private readonly options: ExternalOptions) {}

  subscribe(listener: (event: RunnerEvent) => void): () => void {
    return this.listeners.subscribe(listener);
  }

  snapshot(): AgentSnapshot {
    return {
      state: "EXTERNAL",
      pid: 0,
      restarts: this.restarts,
      ...(this.startedAt ? { startedAt: this.startedAt } : {}),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      running: this.running,
      args: this.launch && this.running ? redactArgv(this.launch.argv) : [],
      ...(this.error ? { error: this.error } : {}),
      ...(this.restartProblem
        ? { problem: this.restartProblem }
        : this.running && this.problem
          ? { problem: this.problem }
          : {}),
      ...(this.seen && this.running ? { pid: this.seen.pid } : {}),
      ...(this.waiting
        ? { notice: this.waiting }
        : this.options.locator === undefined && this.running
          ? { notice: "the running agent is not verified (give --agent-pidfile or --agent-unit)" }
          : {}),
      prepared: this.prepared,
    };
  }

  /**
   * Writes the flags (and token) file and restarts the agent. Throws ApplyError when the files
   * cannot be written or the restart fails, times out or is aborted by `signal`: the agent then
   * counts as running what it ran before.
   */
  apply(launch: Launch, signal?: AbortSignal): Promise<void> {
    return this.queue.run(async () => {
      const { options } = this;
      this.error = undefined;
      // Nothing is restarted unless both files are in place: the running agent stays as it is.
      if (launch.tokenFile) await writeTokenFile(launch.tokenFile);
      try {
        await writeFileAtomic(
          options.flagsFile,
          formatFlagsFile(options.format, launch, options.configBase),
        );
      } catch (err) {
        const why = err instanceof FlagsFormatError ? err.message : errnoOrMessage(err);
        this.error = this.options.secrets.scrub(
          `cannot write the flags file ${options.flagsFile}: ${why}`,
        );
        this.options.log.error(
          { event: "flags_write_failed", error: this.error },
          "the agent was not restarted",
        );
        this.listeners.emit({ type: "state" });
        throw new ApplyError(this.error, { cause: err });
      }
      this.prepared = true;
      if (options.podAgent) {
        await this.restartPodAgent(options.podAgent, signal);
        this.launch = launch;
        this.restartProblem = undefined;
        this.succeeded("agent_restarted", "the kubelet started the agent with the new flags file");
        await this.verify(launch, { restarted: false, before: undefined });
        return;
      }
      if (options.restartCommand === undefined) {
        this.launch = launch;
        this.succeeded("flags_written", "flags file written; no restart command to run");
        await this.verify(launch, { restarted: false, before: undefined });
        return;
      }
      // The agent before the restart: the restart must show a new process.
      const before = await this.options.locator?.current();
      const outcome = await this.runCommand(options.restartCommand, launch, signal);
      if (!outcome.ok) {
        const error = this.failed("restart", outcome);
        if (!outcome.aborted) this.restartProblem = restartFailed(error);
        this.listeners.emit({ type: "state" });
        throw new ApplyError(error);
      }
      this.launch = launch;
      this.restartProblem = undefined;
      this.succeeded("agent_restarted", "restart command succeeded");
      await this.verify(launch, { restarted: true, before });
    });
  }

  /** In a pod: the agent restarted through the kubelet; throws ApplyError when it was not. */
  private async restartPodAgent(pod: PodRestart, signal: AbortSignal | undefined): Promise<void> {
    const outcome = await restartPodAgent(pod, signal, (waiting) => {
      this.waiting = waiting;
      this.listeners.emit({ type: "state" });
    });
    if (outcome === "aborted")
      throw new ApplyError("stopped waiting: newer relation data or a shutdown");
    if (outcome === undefined) return;
    this.restartProblem = outcome;
    this.listeners.emit({ type: "state" });
    throw new ApplyError(outcome.message);
  }

  /** What runs, compared with the launch: after a restart, a new process must show. */
  private async verify(
    launch: Launch,
    { restarted, before }: { readonly restarted: boolean; readonly before: Seen | undefined },
  ): Promise<void> {
    const locator = this.options.locator;
    if (locator === undefined) return;
    const found = restarted
      ? await locator.afterRestart(before, launch)
      : await locator.now(launch);
    this.report(found);
    this.stopLooking ??= everyJittered(
      this.options.verifyEveryMs ?? 30_000,
      () =>
        void this.queue.run(async () => {
          if (this.running && this.launch) this.report(await locator.now(this.launch));
        }),
      { unref: true },
    );
  }

  private report(found: Verification): void {
    if (found.seen) this.seen = found.seen;
    const before = this.problem?.code;
    this.problem = found.problem;
    if (found.problem && found.problem.code !== before)
      this.options.log.warn(
        { event: "agent_unverified", code: found.problem.code },
        found.problem.message,
      );
    this.listeners.emit({ type: "state" });
  }

  /** Runs the stop command, if any; its failure is reported, and the agent counts as stopped. */
  stop(signal?: AbortSignal): Promise<void> {
    return this.queue.run(async () => {
      const command = this.options.stopCommand;
      if (command) {
        const outcome = await this.runCommand(command, this.launch, signal);
        if (!outcome.ok) this.failed("stop", outcome);
      }
      this.running = false;
      this.restartProblem = undefined;
      this.listeners.emit({ type: "state" });
      const tokenFile = this.launch?.tokenFile;
      if (tokenFile) await removeTokenFile(tokenFile.path, this.options.log);
    });
  }

  private succeeded(event: string, message: string): void {
    if (this.startedAt !== undefined) this.restarts++;
    this.startedAt = new Date();
    this.running = true;
    this.options.log.info(
      { event, flagsFile: this.options.flagsFile, args: redactArgv(this.launch?.argv ?? []) },
      message,
    );
    this.listeners.emit({ type: "state" });
  }

  /** Records how a command failed (its stderr kept for status, token redacted); the message. */
  private failed(what: "restart" | "stop", outcome: CommandOutcome): string {
    const [file] =
      (what === "restart" ? this.options.restartCommand : this.options.stopCommand) ?? [];
    const stderr = this.options.secrets
      .scrub(outcome.stderr)
      .split("\n")
      .filter(Boolean)
      .slice(-TAIL_LINES);
    this.lastExit = {
      code: outcome.code ?? -1,
      signal: outcome.signal ?? "",
      at: new Date(),
      stderrTail: stderr,
    };
    const last = stderr.length ? `: ${stderr.at(-1)}` : "";
    const why = outcome.aborted
      ? "stopped: newer relation data or a shutdown"
      : outcome.timedOut
        ? `timed out after ${this.options.commandTimeoutMs} ms; its process group was killed`
        : outcome.startError !== undefined
          ? outcome.startError
          : outcome.code === undefined
            ? `killed by ${outcome.signal}`
            : `exit ${outcome.code}${last}`;
    const error = this.options.secrets.scrub(`${what} command ${file} failed (${why})`);
    this.error = error;
    this.options.log.error(
      { event: outcome.aborted ? "command_aborted" : "command_failed", command: what, error },
      outcome.aborted ? "the command was stopped" : "the agent could not be (re)started",
    );
    return error;
  }

  /** Runs a restart/stop command in its own process group, the store in its environment. */
  private runCommand(
    argv: readonly string[],
    launch: Launch | undefined,
    signal: AbortSignal | undefined,
  ): Promise<CommandOutcome> {
    const env: NodeJS.ProcessEnv = { ...this.options.env };
    if (launch) {
      env.PARCA_STORE_ADDRESS = launch.store.address;
      env.PARCA_STORE_INSECURE = String(launch.store.insecure);
      if (launch.store.token !== undefined) env.PARCA_STORE_BEARER_TOKEN = launch.store.token;
    }
    return runCommandGroup(argv, {
      env,
      timeoutMs: this.options.commandTimeoutMs,
      ...(signal ? { signal } : {}),
    });
  }
}

/** The problem a failed restart command is, in status. */
function restartFailed(error: string): Problem {
  return problem(
    "RESTART_FAILED",
    error,
    "the command's last stderr lines are in status (agent.last_exit); it is retried with backoff; fix the command or the service, or raise --restart-timeout-ms if it needs longer",
  );
}
