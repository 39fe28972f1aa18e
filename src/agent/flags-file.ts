import { FLAG_TOKEN, FLAG_TOKEN_FILE } from "../flag-names.js";
import { yaml } from "../yaml.js";
import type { Launch } from "./runner.js";

export type FlagsFormat = "args" | "env" | "yaml";
const FLAGS_VARIABLE = "PARCA_AGENT_FLAGS";

/** Rendered flags that this format cannot carry faithfully. */
export class FlagsFormatError extends Error {
  override readonly name = "FlagsFormatError";
}

/**
 * The content of the external flags file:
 * - `args`: one argv element a line;
 * - `env`: `PARCA_AGENT_FLAGS="…"` for a systemd EnvironmentFile= used as `$PARCA_AGENT_FLAGS`,
 *   which systemd splits on whitespace ignoring quotes — so no element may hold whitespace;
 * - `yaml`: the managed flags only, as a Kong flag file for the agent's --config-path.
 */
export function formatFlagsFile(
  format: FlagsFormat,
  launch: Launch,
  /** `yaml`: the operator's own agent config (--agent-config-base), kept under the managed keys. */
  base?: Readonly<Record<string, unknown>>,
): string {
  if (format === "yaml") return yamlFlags(launch, base);
  for (const arg of launch.argv) {
    if (format === "args" && /[\r\n]/.test(arg)) {
      throw new FlagsFormatError(
        `argv element ${JSON.stringify(redactedHead(arg))} holds a line break; the args format has one element a line`,
      );
    }
    if (format === "env" && /\s/.test(arg)) {
      throw new FlagsFormatError(
        `argv element ${JSON.stringify(redactedHead(arg))} holds whitespace, which systemd would split into two arguments; use --flags-format args or yaml`,
      );
    }
  }
  if (format === "args") return `${launch.argv.join("\n")}\n`;
  const value = launch.argv.join(" ").replace(/[\\"]/g, (c) => `\\${c}`);
  return `${FLAGS_VARIABLE}="${value}"\n`;
}

/** The flag name of an argv element, never its value (it may be a token). */
function redactedHead(arg: string): string {
  const eq = arg.indexOf("=");
  return eq > 0 ? `${arg.slice(0, eq)}=…` : arg.length > 40 ? `${arg.slice(0, 40)}…` : arg;
}

function yamlFlags(launch: Launch, base: Readonly<Record<string, unknown>> = {}): string {
  const { store, tokenFile } = launch;
  const token = FLAG_TOKEN.slice(2);
  const tokenFileKey = FLAG_TOKEN_FILE.slice(2);
  // The base's own keys first (relabel_configs, other flags); the managed ones set on top. A
  // relation token replaces every other token source, the base's included.
  const flags: Record<string, unknown> = { ...base };
  if (tokenFile || store.token !== undefined) {
    delete flags[token];
    delete flags[tokenFileKey];
  }
  flags["remote-store-address"] = store.address;
  flags["remote-store-insecure"] = store.insecure;
  if (tokenFile) flags[tokenFileKey] = tokenFile.path;
  else if (store.token !== undefined) flags[token] = store.token;
  return yaml().stringify(flags, { defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" });
}

/** Reads --agent-config-base: a YAML mapping (the agent's own config file), or throws why not. */
export function parseConfigBase(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = yaml().parse(text);
  } catch (err) {
    throw new FlagsFormatError(`it is not YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new FlagsFormatError("it is not a YAML mapping (flag names and relabel_configs)");
  return value as Record<string, unknown>;
}
