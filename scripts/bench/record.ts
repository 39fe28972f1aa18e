// The stand-in agent's record (test/support/agents/record.sh writes one line per start), and
// one relation change timed from its rename to the agent started with it.
import { closeSync, openSync, readSync, renameSync, statSync, watch, writeFileSync } from "node:fs";
import { plaintext } from "../../test/support/relation.js";
import { wallMs } from "./stats.js";

export interface Start {
  readonly atMs: number;
  readonly argv: string;
}

/** Follows the record file: one line "<wall ns> <argv>" per agent start. */
export class AgentRecord {
  private offset = 0;
  private partial = "";
  readonly lines: Start[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly watcher;

  constructor(readonly path: string) {
    closeSync(openSync(path, "a"));
    this.watcher = watch(path, () => this.read());
  }

  read(): void {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return; // removed with the bench's temp dir
    }
    if (size <= this.offset) return;
    const fd = openSync(this.path, "r");
    const buf = Buffer.alloc(size - this.offset);
    readSync(fd, buf, 0, buf.length, this.offset);
    closeSync(fd);
    this.offset = size;
    const parts = (this.partial + buf.toString()).split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      const space = line.indexOf(" ");
      this.lines.push({ atMs: Number(line.slice(0, space)) / 1e6, argv: line.slice(space + 1) });
    }
    for (const w of this.waiters) w();
  }

  /** Waits for the first start after line `from` whose argv contains `needle`. */
  async next(from: number, needle: string, timeoutMs = 30_000): Promise<Start> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      this.read();
      const hit = this.lines.slice(from).find((l) => l.argv.includes(needle));
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`no agent started with ${needle}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiters.delete(done);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(done, 50);
        this.waiters.add(done);
      });
    }
  }

  close(): void {
    this.watcher.close();
  }
}

/** One change: rename a new relation over the old one; ms until the agent ran with it. */
export async function change(
  relation: string,
  record: AgentRecord,
  address: string,
): Promise<number> {
  const from = record.lines.length;
  writeFileSync(`${relation}.tmp`, JSON.stringify(plaintext(address)));
  // The clock starts at the rename: the event every watcher reacts to.
  const t0 = wallMs();
  renameSync(`${relation}.tmp`, relation);
  const started = await record.next(from, `--remote-store-address=${address}`);
  return started.atMs - t0;
}
