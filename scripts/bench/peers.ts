// What the sidecar is measured against: plaintext stores in their own process, and the restart
// loops users write without a sidecar.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { plaintext, writeRelation } from "../../test/support/relation.js";
import { ROOT } from "../../test/support/root.js";
import { AgentRecord, change } from "./record.js";
import { type Percentiles, percentiles } from "./stats.js";

export const AGENT = join(ROOT, "test", "support", "agents", "record.sh");
const NODE_LOOP = join(ROOT, "scripts", "bench", "restart-loop.mjs");
const INOTIFY_LOOP = join(ROOT, "scripts", "bench", "inotify-loop.sh");
const STORES = join(ROOT, "build", "demo", "scripts", "bench", "stores.js");

/** Starts the plaintext stores in their own process. */
export async function startStores(
  count: number,
): Promise<{ addresses: string[]; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [STORES, String(count)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.once("data", (d: Buffer) => resolve(d.toString()));
    child.once("exit", (code) => reject(new Error(`stores exited ${code}`)));
  });
  return { addresses: JSON.parse(line) as string[], stop: () => stopChild(child, "SIGTERM") };
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  if (group && child.pid !== undefined) process.kill(-child.pid, signal);
  else child.kill(signal);
  return exited;
}

/** Whether a command runs (exits 0, or 1 for tools that say so to --help). */
function runs(command: string): boolean {
  try {
    execFileSync(command, ["--help"], { stdio: "ignore" });
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 1;
  }
}

/**
 * The do-it-yourself loop needs inotifywait (Debian's inotify-tools): installed here when
 * missing, with apt-get update only if the first try fails.
 */
export function ensureLoopTools(): void {
  const missing = [["inotifywait", "inotify-tools"]].filter(
    ([command]) => !runs(command as string),
  );
  if (missing.length === 0) return;
  const packages = missing.map(([, pkg]) => pkg as string);
  console.error(`installing ${packages.join(", ")} (apt-get) for the do-it-yourself loop…`);
  const apt = (...args: string[]) =>
    execFileSync("apt-get", args, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  try {
    apt("install", "-y", "-q", ...packages);
  } catch {
    apt("update", "-q");
    apt("install", "-y", "-q", ...packages);
  }
  for (const [command, pkg] of missing)
    if (!runs(command as string)) throw new Error(`${command} is missing: install Debian's ${pkg}`);
}

export type LoopKind =
  /** The inotifywait bash loop; `reader` and the quiet period as inotify-loop.sh takes them. */
  | { readonly kind: "inotify"; readonly reader: "grep" | "bash"; readonly quietMs?: number }
  | { readonly kind: "node"; readonly quietMs: number };

/** A restart loop without a check, measured over `count` changes alternating `a` and `b`. */
export async function measureLoop(
  loop: LoopKind,
  dir: string,
  [a, b]: readonly [string, string],
  count: number,
): Promise<Percentiles> {
  const tag =
    loop.kind === "inotify"
      ? `inotify-${loop.reader}-${loop.quietMs ?? 0}`
      : `node-${loop.quietMs}`;
  const relation = join(dir, `loop-${tag}.json`);
  const record = new AgentRecord(join(dir, `loop-${tag}.record`));
  await writeRelation(relation, plaintext(a));
  const [file, args] =
    loop.kind === "inotify"
      ? ["bash", [INOTIFY_LOOP, relation, AGENT, loop.reader, String(loop.quietMs ?? 0)]]
      : [process.execPath, [NODE_LOOP, relation, AGENT, String(loop.quietMs)]];
  const child = spawn(file, args, {
    env: { PATH: process.env.PATH, STANDIN_RECORD: record.path },
    stdio: "ignore",
    detached: true,
  });
  try {
    await record.next(0, a);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      times.push(await change(relation, record, i % 2 === 0 ? b : a));
      await sleep(50);
    }
    return percentiles(times);
  } finally {
    // The bash loop, inotifywait and its agent share one process group; the node loop stops
    // its agent's group itself on SIGTERM.
    if (loop.kind === "inotify") await stopChild(child, "SIGKILL", true);
    else await stopChild(child, "SIGTERM");
    record.close();
  }
}
