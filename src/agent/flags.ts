import { join } from "node:path";
import {
  ENV_TOKEN,
  FLAG_ADDRESS,
  FLAG_INSECURE,
  FLAG_TOKEN,
  FLAG_TOKEN_FILE,
  takesValue,
} from "../flag-names.js";
import type { StoreConfig } from "../relation/types.js";

const TOKEN_FILE_NAME = "bearer-token";

export type TokenMode = "flag" | "file";

export interface RenderOptions {
  readonly tokenMode: TokenMode;
  /** Where the token file lives in mode `file`. */
  readonly stateDir: string;
}

/** The agent's command line for one store config. */
export interface RenderedFlags {
  /** The argv to run the agent with; holds the token in mode `flag`. */
  readonly argv: readonly string[];
  /** Environment variables the agent must not inherit (the relation token replaces them). */
  readonly unsetEnv: readonly string[];
  /** In mode `file` with a relation token: the file to write (0600) before the agent starts. */
  readonly tokenFile?: { readonly path: string; readonly content: string };
}

const ALWAYS_MANAGED = [FLAG_ADDRESS, FLAG_INSECURE] as const;
const TOKEN_SOURCES = [FLAG_TOKEN, FLAG_TOKEN_FILE] as const;

/**
 * Removes every occurrence of the given flags, in their `--x=v` and bare forms, and `--x v` for
 * a flag that takes a value (a Kong boolean never does: `--x false` leaves `false` alone).
 */
function removeFlags(args: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const name = names.find((n) => arg === n || arg.startsWith(`${n}=`));
    if (name === undefined) {
      out.push(arg);
    } else if (arg === name && takesValue(name)) {
      i++; // skip its value
    }
  }
  return out;
}

/**
 * Renders the agent's argv: base args without the managed flags, then the store's flags.
 * A relation token replaces every other token source; without one, the operator's own token
 * flag, file or variable is kept. Deterministic, and one argv element per flag: no shell.
 */
export function renderFlags(
  base: readonly string[],
  store: StoreConfig,
  options: RenderOptions,
): RenderedFlags {
  const hasToken = store.token !== undefined;
  const kept = removeFlags(base, hasToken ? [...ALWAYS_MANAGED, ...TOKEN_SOURCES] : ALWAYS_MANAGED);
  const argv = [...kept, `${FLAG_ADDRESS}=${store.address}`, `${FLAG_INSECURE}=${store.insecure}`];
  if (store.token === undefined) return { argv, unsetEnv: [] };
  if (options.tokenMode === "flag") {
    argv.push(`${FLAG_TOKEN}=${store.token}`);
    return { argv, unsetEnv: [ENV_TOKEN] };
  }
  const path = join(options.stateDir, TOKEN_FILE_NAME);
  argv.push(`${FLAG_TOKEN_FILE}=${path}`);
  return { argv, unsetEnv: [ENV_TOKEN], tokenFile: { path, content: store.token } };
}

/**
 * The agent's command line behind the relay: base args without any store or token flag, then the
 * relay's address over plaintext. The token stays with the relay, so the agent inherits none.
 */
export function relayFlags(base: readonly string[], relayAddress: string): RenderedFlags {
  const kept = removeFlags(base, [...ALWAYS_MANAGED, ...TOKEN_SOURCES]);
  return {
    argv: [...kept, `${FLAG_ADDRESS}=${relayAddress}`, `${FLAG_INSECURE}=true`],
    unsetEnv: [ENV_TOKEN],
  };
}
