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
export function formatFlagsFile(format: FlagsFormat, launch: Launch): string {
  if (format === "yaml") return yamlFlags(launch);
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

function yamlFlags(launch: Launch): string {
  const { store, tokenFile } = launch;
  const flags: Record<string, string | boolean> = {
    "remote-store-address": store.address,
    "remote-store-insecure": store.insecure,
  };
  if (tokenFile) flags[FLAG_TOKEN_FILE.slice(2)] = tokenFile.path;
  else if (store.token !== undefined) flags[FLAG_TOKEN.slice(2)] = store.token;
  return yaml().stringify(flags, { defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" });
}
