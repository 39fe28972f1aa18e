import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import type { Paused } from "../loop/state.js";

/** An operator's freeze as `<state dir>/paused.json`, so it holds across a restart of the sidecar. */
export class PauseFile {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, "paused.json");
  }

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
