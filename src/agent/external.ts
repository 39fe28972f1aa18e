import { execa } from "execa";
import type { Logger } from "pino";
import { writeFileAtomic } from "../core/atomic.js";
import { errnoOrMessage } from "../core/errors.js";
import { Listeners } from "../core/listeners.js";
import { SerialQueue } from "../core/serial-queue.js";
import type { Secrets } from "../log.js";
import { redactArgv } from "./flags.js";
import { type FlagsFormat, FlagsFormatError, formatFlagsFile } from "./flags-file.js";
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
        return;
      }
      const ok = await this.runCommand(options.restartCommand, launch, "restart");
      if (ok) this.succeeded("agent_restarted", "restart command succeeded");
    });
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
