import { statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type FSWatcher, watch } from "chokidar";
import type { Logger } from "pino";
import { type Problem, problem } from "../problem.js";

export interface WatchOptions {
  readonly paths: readonly string[];
  /** Quiet period after the last relevant event. */
  readonly debounceMs: number;
  readonly log: Logger;
  /** Called once the relation files went quiet; `firstEventAt` is performance.now() of the first event. */
  readonly onChange: (firstEventAt: number) => void;
  /** Called on the first relevant event of a change, as its quiet period begins. */
  readonly onFirstEvent?: () => void;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The closest directory that exists at or above `path`. */
function nearestExisting(path: string): string {
  let dir = path;
  while (!isDirectory(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Whether an event on `changed` can matter to the source at `source`. */
function concerns(changed: string, source: string): boolean {
  return changed === source || changed.startsWith(`${source}/`) || source.startsWith(`${changed}/`);
}

/**
 * Watches the relation sources with chokidar, as docs/relation.md explains: a file source through its parent
 * directory (a watch on the file itself dies for good after quick rename-overs), a directory
 * source through itself and its parent (a `..data` swap shows only inside it; its replacement only
 * in the parent), always with depth 0. It debounces on chokidar's unthrottled `raw` events —
 * chokidar drops a `change` within 50 ms of the previous one — so the last write always wins.
 */
export class RelationWatcher {
  private readonly sources: string[];
  private readonly watched = new Set<string>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private firstEventAt: number | undefined;
  private lastEventAt = 0;
  private readonly problems = new Map<string, Problem>();

  constructor(private readonly options: WatchOptions) {
    this.sources = options.paths.map((p) => resolve(p));
  }

  /** Watch problems (ENOSPC, permissions), per watched directory, for status. */
  currentProblems(): Problem[] {
    return [...this.problems.values()];
  }

  async start(): Promise<void> {
    const watcher = watch([], {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      persistent: true,
      atomic: false,
    });
    this.watcher = watcher;
    watcher.on("raw", (_event, name: string | null, details: unknown) => {
      const base = (details as { watchedPath?: string } | undefined)?.watchedPath ?? "";
      const changed = name ? join(base, name) : base;
      // `base` is a watched directory, or a file chokidar watches on its own inside one.
      const relevant = (source: string) =>
        concerns(changed, source) || base === source || base.startsWith(`${source}/`);
      if (this.sources.some(relevant)) this.poke();
    });
    watcher.on("error", (err: unknown) => this.report(err));
    const ready = new Promise<void>((done) => watcher.once("ready", () => done()));
    this.refresh();
    await ready;
    this.started = true;
  }

  /**
   * Adds watches for sources that appeared or turned into directories. Watches are never
   * removed: chokidar's unwatch of a directory also ignores everything below it from then on,
   * and the set stays small (each source's directory, its nearest existing ancestor, itself).
   */
  refresh(): void {
    const watcher = this.watcher;
    if (watcher === undefined) return;
    const added: string[] = [];
    for (const source of this.sources) {
      for (const path of [
        nearestExisting(dirname(source)),
        ...(isDirectory(source) ? [source] : []),
      ]) {
        if (!this.watched.has(path)) {
          this.watched.add(path);
          added.push(path);
        }
      }
    }
    if (added.length > 0) {
      watcher.add(added);
      this.options.log.debug({ event: "watch_added", paths: added }, "watching relation sources");
      // What was written before the new watch took hold is caught by one more read.
      if (this.started) this.poke();
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.watcher?.close();
    this.watcher = undefined;
  }

  /**
   * performance.now() of the last relevant event while its quiet period still runs (the change
   * has not been handed on yet); undefined once the files are quiet.
   */
  get unsettledSince(): number | undefined {
    return this.timer === undefined ? undefined : this.lastEventAt;
  }

  private poke(): void {
    this.lastEventAt = performance.now();
    this.firstEventAt ??= this.lastEventAt;
    if (this.timer === undefined) this.options.onFirstEvent?.();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const at = this.firstEventAt ?? performance.now();
      this.firstEventAt = undefined;
      this.refresh();
      this.options.onChange(at);
    }, this.options.debounceMs);
  }

  private report(err: unknown): void {
    const e = err as NodeJS.ErrnoException & { path?: string };
    const path = e?.path ?? "";
    const hint =
      e?.code === "ENOSPC"
        ? "raise fs.inotify.max_user_watches (sysctl); until then changes are picked up only by the periodic rescan"
        : "check the permissions of the relation directory; until then changes are picked up only by the periodic rescan";
    const p = problem(
      "WATCH_FAILED",
      `cannot watch ${path || "a relation directory"}: ${e?.code ?? e?.message ?? String(err)}`,
      hint,
      path,
    );
    this.problems.set(path, p);
    this.options.log.warn({ event: "watch_failed", path, code: e?.code }, p.message);
  }
}
