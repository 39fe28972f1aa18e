import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT } from "./root.js";

export const AGENTS_DIR = join(ROOT, "test", "support", "agents", "/");
export const STANDIN = join(AGENTS_DIR, "standin.mjs");
/** A shell wrapper that runs the stand-in as its child, without exec. */
export const WRAPPER = join(AGENTS_DIR, "wrapper.sh");

/** Live processes started from test/support/agents (stand-in agents), with their argv. */
export function standinProcesses(): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (argv[1]?.startsWith(AGENTS_DIR)) found.push({ pid: Number(name), argv });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Waits until the condition holds, polling; fails after a generous timeout. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Kills whatever stand-ins are left and reports how many there were. */
export async function killStrayStandins(): Promise<number> {
  const stray = standinProcesses();
  for (const { pid } of stray) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  if (stray.length > 0) await waitFor("strays to go", () => standinProcesses().length === 0);
  return stray.length;
}

export interface StandinStart {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly argv: string[];
  readonly tokenFromFile?: string;
  readonly envToken?: string;
  readonly marker?: string;
  /** The --config-path file as the worker read it at start. */
  readonly config?: Record<string, unknown>;
}

/** Every start the stand-in recorded (the re-executed child records; the parent does not). */
export function recordedStarts(path: string): StandinStart[] {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as StandinStart);
}

/** The pids of the stand-in workers that shut down gracefully (on SIGTERM, their parent alive). */
export function recordedGracefulStops(path: string): number[] {
  try {
    return readFileSync(`${path}.stops`, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { pid: number }).pid);
  } catch {
    return [];
  }
}

/** For afterEach: kills stand-ins a test left behind, then reports them (an empty list passes). */
export async function strayAgents(): Promise<{ pid: number; argv: string[] }[]> {
  const left = standinProcesses();
  await killStrayStandins();
  return left;
}

/** `run` flags for one relation source, the stand-in agent and a state dir. */
export function standinRun(relation: string, stateDir: string): string[] {
  return ["--relation", relation, "--agent", STANDIN, "--state-dir", stateDir];
}
