import { execa } from "execa";
import type { Logger } from "pino";
import { writeFileAtomic } from "../core/atomic.js";
import { everyJittered } from "../core/backoff.js";
import { errnoOrMessage } from "../core/errors.js";
import { Listeners } from "../core/listeners.js";
import { SerialQueue } from "../core/serial-queue.js";
import type { Secrets } from "../log.js";
import type { Problem } from "../problem.js";
import { redactArgv } from "./flags.js";
import { type FlagsFormat, FlagsFormatError, formatFlagsFile } from "./flags-file.js";
import type { AgentLocator, Seen, Verification } from "./locate.js";
import {
  type AgentSnapshot,
  type ExitInfo,
  type Launch,
  type Runner,
  type RunnerEvent,
  TAIL_LINES,
} from "./runner.js";
import { ApplyError, writeTokenFile } from "./token-file.js";

export interface ExternalOptions {
  readonly flagsFile: string;
  readonly format: FlagsFormat;
  /** argv of the restart command (already split; never run by a shell). */
  readonly restartCommand?: readonly string[];
  readonly stopCommand?: readonly string[];
  readonly commandTimeoutMs: number;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly secrets: Secrets;
  /** How to find the running agent, to verify what runs (never to signal it). */
  readonly locator?: AgentLocator;
  /** How often what runs is looked at again, finding the agent afresh. */
  readonly verifyEveryMs?: number;
}

/**
 * Drives an agent managed elsewhere (systemd, snap): writes the rendered flags to a file
 * atomically and runs the restart command. "The agent runs" means the last restart succeeded.
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
      ...(this.running && this.problem ? { problem: this.problem } : {}),
      ...(this.seen && this.running ? { pid: this.seen.pid } : {}),
      ...(this.options.locator === undefined && this.running
        ? { notice: "the running agent is not verified (give --agent-pidfile or --agent-unit)" }
        : {}),
    };
  }

  apply(launch: Launch): Promise<void> {
    return this.queue.run(async () => {
      const { options } = this;
      this.error = undefined;
      // Nothing is restarted unless both files are in place: the running agent stays as it is.
      if (launch.tokenFile) await writeTokenFile(launch.tokenFile);
      try {
        await writeFileAtomic(options.flagsFile, formatFlagsFile(options.format, launch));
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
      this.launch = launch;
      if (options.restartCommand === undefined) {
        this.succeeded("flags_written", "flags file written; no restart command to run");
        await this.verify(launch, { restarted: false, before: undefined });
        return;
      }
      // The agent before the restart: the restart must show a new process.
      const before = await this.options.locator?.current();
      const ok = await this.runCommand(options.restartCommand, launch, "restart");
      if (!ok) return;
      this.succeeded("agent_restarted", "restart command succeeded");
      await this.verify(launch, { restarted: true, before });
    });
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

  stop(): Promise<void> {
    return this.queue.run(async () => {
      if (this.options.stopCommand)
        await this.runCommand(this.options.stopCommand, this.launch, "stop");
      this.running = false;
      this.listeners.emit({ type: "state" });
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

  private fail(error: string): void {
    this.error = this.options.secrets.scrub(error);
    this.running = false;
    this.options.log.error(
      { event: "external_failed", error: this.error },
      "the agent could not be (re)started",
    );
    this.listeners.emit({ type: "state" });
  }

  /** Runs a restart/stop command without a shell; true when it exited 0. */
  private async runCommand(
    argv: readonly string[],
    launch: Launch | undefined,
    what: string,
  ): Promise<boolean> {
    const [file, ...args] = argv as [string, ...string[]];
    const env: NodeJS.ProcessEnv = { ...this.options.env };
    if (launch) {
      env.PARCA_STORE_ADDRESS = launch.store.address;
      env.PARCA_STORE_INSECURE = String(launch.store.insecure);
      if (launch.store.token !== undefined) env.PARCA_STORE_BEARER_TOKEN = launch.store.token;
    }
    const result = await execa(file, args, {
      env,
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      timeout: this.options.commandTimeoutMs,
      maxBuffer: 1024 * 1024,
    });
    if (result.exitCode === 0 && !result.timedOut) return true;
    const stderr = this.options.secrets
      .scrub(String(result.stderr ?? ""))
      .split("\n")
      .filter(Boolean)
      .slice(-TAIL_LINES);
    this.lastExit = {
      code: result.exitCode ?? -1,
      signal: result.signal ?? "",
      at: new Date(),
      stderrTail: stderr,
    };
    const why = result.timedOut
      ? `timed out after ${this.options.commandTimeoutMs} ms`
      : result.exitCode === undefined
        ? result.shortMessage
        : `exit ${result.exitCode}${stderr.length ? `: ${stderr.at(-1)}` : ""}`;
    this.fail(`${what} command ${file} failed (${why})`);
    return false;
  }
}
