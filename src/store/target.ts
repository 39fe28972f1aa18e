import { readFile } from "node:fs/promises";
import { splitHostPort } from "../core/host-port.js";
import {
  ENV_TOKEN,
  FLAG_ADDRESS,
  FLAG_CLIENT_CERT,
  FLAG_CLIENT_KEY,
  FLAG_HEADERS,
  FLAG_INSECURE,
  FLAG_SKIP_VERIFY,
  FLAG_TOKEN,
  FLAG_TOKEN_FILE,
  FLAG_V2_SCHEMA,
  FLAG_V2_SCHEMA_MISSPELT,
  kongBool,
  parseFlags,
} from "../flag-names.js";

/** What the agent will dial, read from its final argv and environment as the agent reads them. */
export interface Target {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly insecure: boolean;
  /** Every token the agent is given (flag or variable, and file): all are secrets. */
  readonly tokens: readonly string[];
  /**
   * The one token that goes out as `authorization: Bearer …`: flag and file each add a
   * credential, but grpc-go merges them into one header, and the file's, applied last, wins.
   */
  readonly bearer?: string;
  readonly skipVerify: boolean;
  readonly headers: readonly (readonly [string, string])[];
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  /** The agent's `--remote-store-use-v2-schema`, when its argv sets it: which RPC it writes with. */
  readonly useV2Schema?: boolean;
}

function hostAndPort(address: string): { host: string; port: number } {
  const { host, port } = splitHostPort(address);
  return { host, port: Number(port) };
}

/** A failure to read a file the agent's flags name (token file, client cert). */
export class TargetError extends Error {
  override readonly name = "TargetError";
  constructor(
    message: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Derives the check target from the rendered argv and the agent's environment (without the
 * variables the render unsets), so the check uses exactly the token, TLS and header settings
 * the agent will use.
 */
export async function targetFromArgv(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  unsetEnv: readonly string[] = [],
): Promise<Target> {
  const flags = parseFlags(argv);
  const misspelt = flags.get(FLAG_V2_SCHEMA_MISSPELT)?.at(-1);
  if (misspelt !== undefined) {
    throw new TargetError(
      `the agent refuses ${FLAG_V2_SCHEMA_MISSPELT} ("unknown flag", exit 80): no release knows it, whatever the agent's help text says`,
      `write ${FLAG_V2_SCHEMA}=${kongBool(misspelt) === false ? "false" : misspelt} in the agent's base args instead`,
    );
  }
  const last = (name: string) => flags.get(name)?.at(-1);
  const address = last(FLAG_ADDRESS) ?? "";
  const tokens: string[] = [];
  const flagToken = last(FLAG_TOKEN);
  const envToken = unsetEnv.includes(ENV_TOKEN) ? undefined : env[ENV_TOKEN];
  // Kong reads the flag's env var only when the flag is absent.
  const token = flagToken ?? envToken;
  if (token) tokens.push(token);
  let bearer = token || undefined;
  const tokenFile = last(FLAG_TOKEN_FILE);
  if (tokenFile) {
    const content = await readFile(tokenFile, "utf8").catch((cause: unknown) => {
      throw new TargetError(
        `cannot read the token file ${tokenFile} named by ${FLAG_TOKEN_FILE}`,
        `make ${tokenFile} readable, or fix ${FLAG_TOKEN_FILE} in the agent's args`,
        { cause },
      );
    });
    bearer = content.trim();
    if (bearer !== "") tokens.push(bearer);
  }
  const headers: [string, string][] = [];
  for (const value of flags.get(FLAG_HEADERS) ?? []) {
    for (const pair of value.split(/[;,]/)) {
      const eq = pair.indexOf("=");
      if (eq > 0) headers.push([pair.slice(0, eq).trim().toLowerCase(), pair.slice(eq + 1).trim()]);
    }
  }
  const boolean = (name: string): boolean => {
    const value = last(name);
    if (value === undefined) return false;
    const parsed = kongBool(value);
    if (parsed === undefined) {
      throw new TargetError(
        `the agent refuses ${name}=${value}: a boolean is true, 1, yes, false, 0 or no`,
        `write ${name}=true or ${name}=false in the agent's args`,
      );
    }
    return parsed;
  };
  const cert = last(FLAG_CLIENT_CERT);
  const key = last(FLAG_CLIENT_KEY);
  return {
    address,
    ...hostAndPort(address),
    insecure: boolean(FLAG_INSECURE),
    tokens,
    ...(bearer !== undefined ? { bearer } : {}),
    skipVerify: boolean(FLAG_SKIP_VERIFY),
    headers,
    ...(cert ? { clientCertFile: cert } : {}),
    ...(key ? { clientKeyFile: key } : {}),
    ...(flags.has(FLAG_V2_SCHEMA) ? { useV2Schema: boolean(FLAG_V2_SCHEMA) } : {}),
  };
}
