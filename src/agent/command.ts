import { execa } from "execa";

/** A command line that cannot be split into words. */
export class CommandSyntaxError extends Error {
  override readonly name = "CommandSyntaxError";
}

/**
 * Splits a command line into words on whitespace, with '…' (literal) and "…" (where \" and \\
 * are escapes) grouping — the subset of shell quoting an operator writes in a flag. No shell
 * ever runs it: no expansion, no operators, no globbing.
 */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new CommandSyntaxError(`unterminated ${quote} quote in ${JSON.stringify(text)}`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new CommandSyntaxError("the command is empty");
  return words;
}

/** How a restart or stop command ended. */
export interface CommandOutcome {
  /** Exited 0, in time, not aborted. */
  readonly ok: boolean;
  readonly code?: number;
  readonly signal?: string;
  /** Killed (with its whole process group) after the timeout. */
  readonly timedOut: boolean;
  /** Killed (with its whole process group) because the signal aborted it. */
  readonly aborted: boolean;
  /** Could not be started at all (ENOENT, EACCES, …), with the reason. */
  readonly startError?: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** From SIGTERM of a command's group to SIGKILL of what is left of it. */
const KILL_GRACE_MS = 1000;
/** How long output may still come after the command itself exited. */
const OUTPUT_GRACE_MS = 200;

/**
 * Runs a command (argv, no shell) in its own process group. On timeout or abort the whole group
 * gets SIGTERM, then SIGKILL after a second: a grandchild cannot keep it alive. Once the command
 * itself has exited, its output is read for a moment more and then let go, so a background
 * process it left holding the pipe cannot hold the caller.
 */
export async function runCommandGroup(
  argv: readonly string[],
  options: CommandOptions,
): Promise<CommandOutcome> {
  const [file, ...args] = argv as [string, ...string[]];
  const child = execa(file, args, {
    env: options.env,
    extendEnv: false,
    reject: false,
    stdin: "ignore",
    stdout: "ignore",
    detached: true,
    maxBuffer: 1024 * 1024,
  });
  let ended: "timeout" | "abort" | undefined;
  const timers: NodeJS.Timeout[] = [];
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  const end = (why: "timeout" | "abort") => {
    ended ??= why;
    killGroup("SIGTERM");
    timers.push(setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS));
  };
  const onAbort = () => end("abort");
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  timers.push(setTimeout(() => end("timeout"), options.timeoutMs));
  child.once("exit", () => {
    timers.push(setTimeout(() => child.stderr?.destroy(), OUTPUT_GRACE_MS));
  });
  try {
    const result = await child;
    const failedToStart = result.exitCode === undefined && result.signal === undefined;
    return {
      ok: result.exitCode === 0 && ended === undefined,
      ...(result.exitCode === undefined ? {} : { code: result.exitCode }),
      ...(result.signal === undefined ? {} : { signal: result.signal }),
      timedOut: ended === "timeout",
      aborted: ended === "abort",
      ...(failedToStart ? { startError: result.shortMessage ?? "cannot start it" } : {}),
      stderr: String(result.stderr ?? ""),
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    // What the command left behind in its group after a timeout or abort goes too.
    if (ended !== undefined) killGroup("SIGKILL");
    options.signal?.removeEventListener("abort", onAbort);
  }
}
