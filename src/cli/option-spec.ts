/** What an option is: kind, commands, environment, default, choices and help. */
export type Command = "run" | "render" | "check" | "status" | "pause" | "resume";

export type Kind = "string" | "strings" | "boolean" | "count";

export interface OptionSpec {
  readonly kind: Kind;
  /** What the option is for, one line, for `<command> --help`. */
  readonly help: string;
  /** The value's placeholder in help (none for a boolean). */
  readonly value?: string;
  readonly commands: readonly Command[];
  /** Options of `run` also read PARCA_SIDECAR_<NAME>. */
  readonly env: boolean;
  /** The value when neither the environment nor a flag sets it. */
  readonly default?: string | number;
  /** The only values allowed. */
  readonly choices?: readonly string[];
}

export const DEFAULT_LISTEN = "127.0.0.1:7072";

export const RUN: readonly Command[] = ["run"];
export const ALL_READERS: readonly Command[] = ["run", "render", "check"];

export function envName(option: string): string {
  return `PARCA_SIDECAR_${option.toUpperCase().replaceAll("-", "_")}`;
}
