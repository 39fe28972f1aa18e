import { readFile, rm } from "node:fs/promises";
import type { Logger } from "pino";
import { writeFileAtomic } from "../core/atomic.js";
import { type StoreConfig, sameStore } from "../relation/types.js";
import type { LoopMachine } from "./machine.js";
import type { Paused } from "./state.js";

/** The freeze as a file in the state dir, so it holds across a restart of the sidecar. */
export class PauseFile {
  constructor(readonly path: string) {}

  /** The freeze in force; a file that cannot be read as one counts as a freeze without a reason. */
  async load(): Promise<Paused | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      return { reason: "", since: new Date() };
    }
    try {
      const data = JSON.parse(text) as { reason?: unknown; since?: unknown };
      const since = new Date(String(data.since));
      return {
        reason: typeof data.reason === "string" ? data.reason : "",
        since: Number.isNaN(since.getTime()) ? new Date() : since,
      };
    } catch {
      return { reason: "", since: new Date() };
    }
  }

  save(paused: Paused): Promise<void> {
    const data = { reason: paused.reason, since: paused.since.toISOString() };
    return writeFileAtomic(this.path, `${JSON.stringify(data)}\n`);
  }

  clear(): Promise<void> {
    return rm(this.path, { force: true });
  }
}

/**
 * The freeze switch: while paused, new relation data is read and checked, never applied, and a
 * removed relation never stops the agent. Kept in the pause file, if any, across restarts.
 */
export class PauseSwitch {
  constructor(
    private readonly machine: LoopMachine,
    private readonly file: PauseFile | undefined,
    private readonly log: Logger,
  ) {}

  /** At start: a pause from before this start holds. */
  async restore(): Promise<void> {
    const paused = await this.file?.load();
    if (paused === undefined) return;
    this.machine.commit({ paused });
    this.log.warn(
      { event: "paused", reason: paused.reason, since: paused.since },
      "paused since before this start: new relation data is not applied until resume",
    );
  }

  /** Saved first: a pause that could not be kept is refused, never half taken. */
  async pause(reason: string): Promise<void> {
    const paused = { reason, since: new Date() };
    await this.file?.save(paused);
    this.machine.commit({ paused });
    this.log.warn({ event: "paused", reason }, "paused: new relation data is not applied");
  }

  async resume(): Promise<void> {
    await this.file?.clear();
    const was = this.machine.state.paused;
    this.machine.commit({ paused: undefined });
    if (was) this.log.info({ event: "resumed" }, "resumed: relation data is applied again");
  }

  /** Paused, and `config` passed its check already: it waits for resume, not checked again. */
  holds(config: StoreConfig): boolean {
    const { paused, lastCheck } = this.machine.state;
    return (
      paused !== undefined && lastCheck?.result.ok === true && sameStore(lastCheck.config, config)
    );
  }
}
