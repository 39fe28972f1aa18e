/** parca-agent's remote-store flags (docs/agent.md): the vocabulary render and check share. */
export const FLAG_ADDRESS = "--remote-store-address";
export const FLAG_INSECURE = "--remote-store-insecure";
export const FLAG_TOKEN = "--remote-store-bearer-token";
export const FLAG_TOKEN_FILE = "--remote-store-bearer-token-file";
export const FLAG_HEADERS = "--remote-store-grpc-headers";
export const FLAG_SKIP_VERIFY = "--remote-store-insecure-skip-verify";
export const FLAG_CLIENT_CERT = "--remote-store-client-cert";
export const FLAG_CLIENT_KEY = "--remote-store-client-key";
/**
 * Which write RPC an agent v0.47.1+ uses (docs/store-protocol.md). Kong prefixes the field's
 * name with its group's: the agent's own help text says `--use-v2-schema`, which no release knows.
 */
export const FLAG_V2_SCHEMA = "--remote-store-use-v2-schema";
/** What the agent's help text tells users to pass, and every release refuses (exit 80). */
export const FLAG_V2_SCHEMA_MISSPELT = "--use-v2-schema";
/** The agent reads its token from this variable too. */
export const ENV_TOKEN = "PARCA_BEARER_TOKEN";

/**
 * The agent's flags that take a value (v0.41 to v0.49): only these may take it as the next
 * argument (`--node n1`). Kong never gives a boolean a separate value, so every other bare flag
 * (`--analytics-opt-out`) is a boolean and leaves the next argument alone.
 */
const VALUE_FLAGS: ReadonlySet<string> = new Set(
  [
    "log-level log-format http-address environment-type machine-id include-env-var otel-tags",
    "tracers node config-path memlock-rlimit mutex-profile-fraction block-profile-rate",
    "clock-sync-interval off-cpu-threshold",
    "profiling-duration profiling-label-ttl profiling-cpu-sampling-frequency",
    "profiling-perf-event-buffer-poll-interval profiling-perf-event-buffer-processing-interval",
    "profiling-perf-event-buffer-worker-count profiling-probabilistic-interval",
    "profiling-probabilistic-threshold",
    "metadata-external-labels metadata-container-runtime-socket-path local-store-directory",
    "remote-store-address remote-store-bearer-token remote-store-bearer-token-file",
    "remote-store-batch-write-interval remote-store-rpc-unary-timeout",
    "remote-store-grpc-max-call-recv-msg-size remote-store-grpc-max-call-send-msg-size",
    "remote-store-grpc-startup-backoff-time remote-store-grpc-connection-timeout",
    "remote-store-grpc-max-connection-retries remote-store-grpc-headers",
    "remote-store-client-cert remote-store-client-key",
    "debuginfo-directories debuginfo-temp-dir debuginfo-upload-max-parallel",
    "debuginfo-upload-timeout-duration debuginfo-upload-cache-duration debuginfo-upload-queue-size",
    "otlp-address otlp-exporter object-file-pool-eviction-policy object-file-pool-size",
    "telemetry-stderr-buffer-size-kb rate-limit-unwind-info rate-limit-process-mappings",
    "rate-limit-refresh-process-info rate-limit-read bpf-events-buffer-size bpf-map-scale-factor",
    "bpf-verifier-log-level bpf-verifier-log-size offline-mode-storage-path",
    "offline-mode-rotation-interval",
  ]
    .join(" ")
    .split(" ")
    .map((name) => `--${name}`),
);

/**
 * The agent's flags as Kong reads them: every value of each `--flag`, in order (the last one
 * wins; map flags accumulate). `--flag=value` carries its value; `--flag value` only for a flag
 * that takes one; any other bare `--flag` is a boolean, read as "true".
 */
export function parseFlags(argv: readonly string[]): Map<string, string[]> {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--") || arg === "--") continue;
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (VALUE_FLAGS.has(name)) value = argv[++i] ?? "";
    else value = "true";
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return flags;
}

/** Whether a flag is one that takes a value (and so may take the next argument). */
export function takesValue(name: string): boolean {
  return VALUE_FLAGS.has(name);
}

/**
 * A boolean as Kong reads it: `true`, `1`, `yes`, `false`, `0`, `no`, in any case; anything
 * else (Go's `t` included) makes the agent refuse its command line: undefined.
 */
export function kongBool(value: string): boolean | undefined {
  const word = value.toLowerCase();
  if (word === "true" || word === "1" || word === "yes") return true;
  if (word === "false" || word === "0" || word === "no") return false;
  return undefined;
}
