import { parseArgs } from "node:util";

import { type Command, envName, type Kind, OPTIONS, type OptionSpec } from "./option-table.js";

export type { Command } from "./option-table.js";
export { DEFAULT_LISTEN, envName, LOG_LEVELS } from "./option-table.js";

/** A command-line mistake: printed as one line on stderr, exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export type Value = string | readonly string[] | boolean | number;

export interface ParsedCommandLine {
  /** Option values after defaults ← environment ← flags; absent when none of them sets it. */
  readonly values: ReadonlyMap<string, Value>;
  /** Where each value came from, for error messages. */
  readonly origin: ReadonlyMap<string, string>;
  /** The agent's base args: everything after `--`. */
  readonly baseArgs: readonly string[];
}

/**
 * Parses one command's options. Environment first, flags over it: a flag replaces its variable
 * (repeated flags too: given --relation, PARCA_SIDECAR_RELATION is ignored).
 */
export function parseCommandLine(
  command: Command,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): ParsedCommandLine {
  const dashdash = args.indexOf("--");
  const own = dashdash < 0 ? args : args.slice(0, dashdash);
  const baseArgs = dashdash < 0 ? [] : args.slice(dashdash + 1);
  const names = Object.entries(OPTIONS).filter(([, spec]) => spec.commands.includes(command));
  const config = Object.fromEntries(
    names.map(([name, spec]) => [
      name,
      {
        type: spec.kind === "boolean" ? ("boolean" as const) : ("string" as const),
        multiple: spec.kind === "strings",
      },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...own], options: config, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError(`${command}: ${oneLine(err)}`);
  }
  const values = new Map<string, Value>();
  const origin = new Map<string, string>();
  for (const [name, spec] of names) {
    const variable = envName(name);
    const fromEnv = spec.env ? env[variable] : undefined;
    const flag = parsed.values[name];
    if (flag !== undefined) {
      values.set(name, convert(spec.kind, flag, `--${name}`));
      origin.set(name, `--${name}`);
    } else if (fromEnv !== undefined && fromEnv !== "") {
      const raw = spec.kind === "strings" ? fromEnv.split(":") : fromEnv;
      values.set(name, convert(spec.kind, raw, variable));
      origin.set(name, variable);
    }
  }
  return { values, origin, baseArgs };
}

function convert(kind: Kind, raw: string | boolean | (string | boolean)[], from: string): Value {
  if (kind === "boolean") {
    if (typeof raw === "boolean") return raw;
    const lower = String(raw).toLowerCase();
    if (lower === "true" || lower === "1") return true;
    if (lower === "false" || lower === "0") return false;
    throw new UsageError(`${from} must be true or false, not ${JSON.stringify(raw)}`);
  }
  if (kind === "strings") {
    const list = (Array.isArray(raw) ? raw : [raw]).map(String).filter((s) => s !== "");
    if (list.length === 0) throw new UsageError(`${from} needs a path`);
    return list;
  }
  const text = String(raw);
  if (kind === "count") {
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
      throw new UsageError(
        `${from} must be a whole number of milliseconds, not ${JSON.stringify(text)}`,
      );
    }
    return Number(text);
  }
  if (text === "") throw new UsageError(`${from} needs a value`);
  return text;
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0]?.trim() ?? message;
}

function spec(name: string): OptionSpec {
  const found = OPTIONS[name];
  if (found === undefined) throw new Error(`no option --${name} in the option table`);
  return found;
}

/** Typed access to parsed values, with the table's defaults and choices checked once. */
export class Options {
  constructor(private readonly parsed: ParsedCommandLine) {}

  get baseArgs(): readonly string[] {
    return this.parsed.baseArgs;
  }

  /** The value, else `fallback`, else the table's default. */
  string(name: string, fallback?: string): string {
    const v = this.parsed.values.get(name);
    if (typeof v === "string") return v;
    const value = fallback ?? spec(name).default;
    if (typeof value !== "string") throw new Error(`--${name} has no default`);
    return value;
  }

  optionalString(name: string): string | undefined {
    const v = this.parsed.values.get(name);
    return typeof v === "string" ? v : undefined;
  }

  strings(name: string): readonly string[] {
    const v = this.parsed.values.get(name);
    return Array.isArray(v) ? v : [];
  }

  flag(name: string): boolean {
    return this.parsed.values.get(name) === true;
  }

  count(name: string): number {
    const v = this.parsed.values.get(name);
    if (typeof v === "number") return v;
    const value = spec(name).default;
    if (typeof value !== "number") throw new Error(`--${name} has no default`);
    return value;
  }

  /** One of the table's choices for the option; `fallback` replaces its default. */
  choice<T extends string>(name: string, fallback?: T): T {
    const v = this.string(name, fallback);
    const choices = spec(name).choices ?? [];
    if (choices.includes(v)) return v as T;
    const from = this.parsed.origin.get(name) ?? `--${name}`;
    throw new UsageError(`${from} must be one of ${choices.join(", ")}, not ${JSON.stringify(v)}`);
  }
}
