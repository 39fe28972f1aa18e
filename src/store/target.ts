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
  parseFlags,
  TRUE_WORDS,
} from "../flag-names.js";

/** What the agent will dial, read from its final argv and environment as the agent reads them. */
export interface Target {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly insecure: boolean;
  /** Bearer tokens the agent attaches (flag and file both set → two credentials). */
  readonly tokens: readonly string[];
  readonly skipVerify: boolean;
  readonly headers: readonly (readonly [string, string])[];
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
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
  const last = (name: string) => flags.get(name)?.at(-1);
  const address = last(FLAG_ADDRESS) ?? "";
  const tokens: string[] = [];
  const flagToken = last(FLAG_TOKEN);
  const envToken = unsetEnv.includes(ENV_TOKEN) ? undefined : env[ENV_TOKEN];
  // Kong reads the flag's env var only when the flag is absent.
  const token = flagToken ?? envToken;
  if (token) tokens.push(token);
  const tokenFile = last(FLAG_TOKEN_FILE);
  if (tokenFile) {
    const content = await readFile(tokenFile, "utf8").catch((cause: unknown) => {
      throw new TargetError(
        `cannot read the token file ${tokenFile} named by ${FLAG_TOKEN_FILE}`,
        `make ${tokenFile} readable, or fix ${FLAG_TOKEN_FILE} in the agent's args`,
        { cause },
      );
    });
    if (content.trim() !== "") tokens.push(content.trim());
  }
  const headers: [string, string][] = [];
  for (const value of flags.get(FLAG_HEADERS) ?? []) {
    for (const pair of value.split(/[;,]/)) {
      const eq = pair.indexOf("=");
      if (eq > 0) headers.push([pair.slice(0, eq).trim().toLowerCase(), pair.slice(eq + 1).trim()]);
    }
  }
  const cert = last(FLAG_CLIENT_CERT);
  const key = last(FLAG_CLIENT_KEY);
  return {
    address,
    ...hostAndPort(address),
    insecure: TRUE_WORDS.has(last(FLAG_INSECURE) ?? ""),
    tokens,
    skipVerify: TRUE_WORDS.has(last(FLAG_SKIP_VERIFY) ?? ""),
    headers,
    ...(cert ? { clientCertFile: cert } : {}),
    ...(key ? { clientKeyFile: key } : {}),
  };
}
