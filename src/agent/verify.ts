import {
  FLAG_ADDRESS,
  FLAG_INSECURE,
  FLAG_TOKEN,
  FLAG_TOKEN_FILE,
  kongBool,
  parseFlags,
} from "../flag-names.js";
import { type Problem, problem } from "../problem.js";
import { cmdline, startTimeOf } from "./proc.js";

/** The flags the sidecar manages: what runs must carry them as rendered. */
const MANAGED = [FLAG_ADDRESS, FLAG_INSECURE, FLAG_TOKEN, FLAG_TOKEN_FILE] as const;

function effective(argv: readonly string[]): Map<string, string> {
  const flags = parseFlags(argv);
  const out = new Map<string, string>();
  for (const name of MANAGED) {
    const value = flags.get(name)?.at(-1);
    if (value === undefined) continue;
    out.set(name, name === FLAG_INSECURE ? String(kongBool(value) ?? value) : value);
  }
  return out;
}

/**
 * The managed flags whose effective values differ between what runs and what was rendered
 * (the last occurrence wins, `--flag=value` and `--flag value` alike; an interpreter as argv[0]
 * and the re-executed child's extra flag do not matter). Names only: a token is compared,
 * never shown.
 */
export function driftedFlags(running: readonly string[], rendered: readonly string[]): string[] {
  const a = effective(running);
  const b = effective(rendered);
  return MANAGED.filter((name) => a.get(name) !== b.get(name));
}

/** The managed flags a command line carries at all (a YAML flag file's agent must carry none). */
export function managedFlagsOn(argv: readonly string[]): string[] {
  const flags = parseFlags(argv);
  return MANAGED.filter((name) => flags.has(name));
}

/** What the running process `pid` carries that differs from the rendered argv (AGENT_ARGS_DRIFT). */
export function runningArgsDrift(
  pid: number,
  rendered: readonly string[],
): { flags: string[]; problem?: Problem } {
  const argv = cmdline(pid);
  const flags = argv ? driftedFlags(argv, rendered) : [];
  return flags.length > 0 ? { flags, problem: argsDrift(flags, pid) } : { flags };
}

export function argsDrift(flags: readonly string[], pid: number): Problem {
  return problem(
    "AGENT_ARGS_DRIFT",
    `the running agent (pid ${pid}) does not carry the rendered ${flags.join(", ")}`,
    "something else starts the agent with its own flags (a unit's ExecStart, a wrapper script, an edit by hand): let it read the sidecar's flags file",
  );
}

export function notFound(where: string): Problem {
  return problem(
    "AGENT_NOT_FOUND",
    `no running agent found through ${where}`,
    "check that the agent runs, and that --agent-pidfile or --agent-unit names it",
  );
}

/** A running process's argv and start time, or undefined when it is gone. */
export function runningProcess(pid: number): { argv: string[]; startTime: string } | undefined {
  const argv = cmdline(pid);
  const startTime = startTimeOf(pid);
  if (argv === undefined || startTime === undefined || argv.length === 0) return undefined;
  return { argv, startTime };
}

/** Whether a command line makes the agent read `file` as its --config-path. */
export function readsConfigFile(argv: readonly string[], file: string): boolean {
  return argv.some(
    (arg, i) =>
      arg === `--config-path=${file}` || (arg === "--config-path" && argv[i + 1] === file),
  );
}
