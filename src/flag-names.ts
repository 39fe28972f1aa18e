/** parca-agent's remote-store flags (docs/agent.md): the vocabulary render and check share. */
export const FLAG_ADDRESS = "--remote-store-address";
export const FLAG_INSECURE = "--remote-store-insecure";
export const FLAG_TOKEN = "--remote-store-bearer-token";
export const FLAG_TOKEN_FILE = "--remote-store-bearer-token-file";
export const FLAG_HEADERS = "--remote-store-grpc-headers";
export const FLAG_SKIP_VERIFY = "--remote-store-insecure-skip-verify";
export const FLAG_CLIENT_CERT = "--remote-store-client-cert";
export const FLAG_CLIENT_KEY = "--remote-store-client-key";
/** The agent reads its token from this variable too. */
export const ENV_TOKEN = "PARCA_BEARER_TOKEN";

const BOOLEAN_FLAGS = new Set([FLAG_INSECURE, FLAG_SKIP_VERIFY]);
/** What Go's strconv.ParseBool (and so Kong) reads as true. */
export const TRUE_WORDS = new Set(["1", "t", "T", "true", "TRUE", "True"]);

/**
 * The agent's flags as Kong reads them: every value of each `--flag`, in order (the last one
 * wins; map flags accumulate). `--flag=value` and `--flag value` forms; the remote-store booleans
 * never take a separate value.
 */
export function parseFlags(argv: readonly string[]): Map<string, string[]> {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (BOOLEAN_FLAGS.has(name)) value = "true";
    else value = argv[++i] ?? "";
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return flags;
}
