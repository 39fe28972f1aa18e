/** Every option of every command: kind, commands, environment, default, choices and help. */
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

const RUN: readonly Command[] = ["run"];
const ALL_READERS: readonly Command[] = ["run", "render", "check"];

export const DEFAULT_LISTEN = "127.0.0.1:7072";
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** Every option of every command, with its default, in one place. */
export const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  relation: {
    value: "PATH",
    help: "relation data: a JSON or YAML file, or a directory of key files (repeated; the first configured or erroneous source decides)",
    kind: "strings",
    commands: ALL_READERS,
    env: true,
  },
  agent: {
    value: "PATH",
    help: "the agent binary (supervise mode)",
    kind: "string",
    commands: RUN,
    env: true,
    default: "parca-agent",
  },
  "agent-version": {
    value: "V",
    help: "the agent's version: below 0.48 a store without WriteArrow is only a warning; makes the agent's metrics expected",
    kind: "string",
    commands: ["run", "check"],
    env: true,
  },
  mode: {
    value: "MODE",
    help: "run the agent as a child, or drive one managed elsewhere",
    kind: "string",
    commands: RUN,
    env: true,
    default: "supervise",
    choices: ["supervise", "external"],
  },
  "flags-file": {
    value: "PATH",
    help: "external mode: where the rendered flags are written (atomically, 0600)",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "flags-format": {
    value: "FORMAT",
    help: 'one argv element a line, PARCA_AGENT_FLAGS="…" for EnvironmentFile=, or a Kong YAML flag file',
    kind: "string",
    commands: RUN,
    env: true,
    default: "args",
    choices: ["args", "env", "yaml"],
  },
  "restart-command": {
    value: '"CMD ARGS…"',
    help: "external mode: run after the flags changed (no shell)",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "stop-command": {
    value: '"CMD ARGS…"',
    help: "external mode: run when the relation is removed (--on-remove stop)",
    kind: "string",
    commands: RUN,
    env: true,
  },
  listen: {
    value: "ADDR",
    help: "the gRPC API (health + SidecarService): host:port or unix:/path",
    kind: "string",
    commands: RUN,
    env: true,
    default: DEFAULT_LISTEN,
  },
  "health-listen": {
    value: "ADDR",
    help: "health service only, plaintext, for Kubernetes probes",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "metrics-listen": {
    value: "ADDR",
    help: "Prometheus /metrics over HTTP",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "state-dir": {
    value: "DIR",
    help: "last-known-good, pidfile, token file (one sidecar per state dir)",
    kind: "string",
    commands: ["run", "render"],
    env: true,
    default: "/var/lib/parca-agent-sidecar",
  },
  "token-mode": {
    value: "MODE",
    help: "the token as --remote-store-bearer-token, or in a 0600 file",
    kind: "string",
    commands: ["run", "render"],
    env: true,
    default: "flag",
    choices: ["flag", "file"],
  },
  "ca-file": {
    value: "PATH",
    help: "extra CA bundle the check trusts (the agent must trust it too)",
    kind: "string",
    commands: ["run", "check"],
    env: true,
  },
  unverified: {
    value: "MODE",
    help: "what to do with a config whose check fails",
    kind: "string",
    commands: RUN,
    env: true,
    default: "hold",
    choices: ["hold", "apply"],
  },
  "on-remove": {
    value: "MODE",
    help: "when no source holds a store config any more",
    kind: "string",
    commands: RUN,
    env: true,
    default: "stop",
    choices: ["stop", "keep"],
  },
  "debounce-ms": {
    value: "MS",
    help: "quiet period after relation file events",
    kind: "count",
    commands: RUN,
    env: true,
    default: 200,
  },
  "remove-grace-ms": {
    value: "MS",
    help: 'how long "no store" must last before --on-remove acts',
    kind: "count",
    commands: RUN,
    env: true,
    default: 2000,
  },
  "check-timeout-ms": {
    value: "MS",
    help: "budget of one store check",
    kind: "count",
    commands: RUN,
    env: true,
    default: 5000,
  },
  "stop-timeout-ms": {
    value: "MS",
    help: "SIGTERM (the agent's worker first) to SIGKILL of its group",
    kind: "count",
    commands: RUN,
    env: true,
    default: 15_000,
  },
  "restart-timeout-ms": {
    value: "MS",
    help: "external mode: a restart or stop command running longer is killed with its process group, reported (RESTART_FAILED) and retried",
    kind: "count",
    commands: RUN,
    env: true,
    default: 60_000,
  },
  "min-uptime-ms": {
    value: "MS",
    help: "a new config's agent exiting sooner, three times, is rolled back",
    kind: "count",
    commands: RUN,
    env: true,
    default: 10_000,
  },
  "rescan-ms": {
    value: "MS",
    help: "periodic re-read of the sources (0 = off)",
    kind: "count",
    commands: RUN,
    env: true,
    default: 30_000,
  },
  "recheck-ms": {
    value: "MS",
    help: "periodic re-check of the applied store while delivery is not proven (0 = off)",
    kind: "count",
    commands: RUN,
    env: true,
    default: 60_000,
  },
  "log-level": {
    value: "LEVEL",
    help: "pino log level",
    kind: "string",
    commands: RUN,
    env: true,
    default: "info",
    choices: LOG_LEVELS,
  },
  // Default: the agent's --http-address in the base args, else 127.0.0.1:7071; "off" disables.
  "agent-metrics-url": {
    value: "URL",
    help: "the agent's /metrics, or off; default from its --http-address, else http://127.0.0.1:7071/metrics",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "delivery-timeout-ms": {
    value: "MS",
    help: "how long a newly applied config has to prove itself with an OK write",
    kind: "count",
    commands: RUN,
    env: true,
    default: 180_000,
  },
  "agent-pidfile": {
    value: "PATH",
    help: "external mode: find the running agent by a pidfile, to verify it (never to signal it)",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "agent-unit": {
    value: "NAME",
    help: "external mode: find the running agent as systemd's MainPID of this unit",
    kind: "string",
    commands: RUN,
    env: true,
  },
  // "pretty" on a TTY: runConfig decides.
  "agent-process": {
    value: "NAME",
    help: "external mode in a pod, no restart command: the agent is the one process whose argv[0] is NAME and whose command line reads --config-path=<--flags-file> (and, with POD_UID set, whose cgroup names the pod); a restart is SIGTERM to its worker, and the kubelet starts it again",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "restart-wait-ms": {
    value: "MS",
    help: "--agent-process: how long the kubelet may take to start the agent again (its back-off reaches 5 minutes)",
    kind: "count",
    commands: RUN,
    env: true,
    default: 330_000,
  },
  "agent-config-base": {
    value: "PATH",
    help: "--flags-format yaml: the operator's agent config (relabel_configs, other flags), kept in the written file under the managed keys",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "log-format": {
    value: "FORMAT",
    help: "one JSON object a line, or pretty (the default on a TTY)",
    kind: "string",
    commands: RUN,
    env: true,
    default: "json",
    choices: ["json", "pretty"],
  },
  "timeout-ms": {
    value: "MS",
    help: "budget of the check",
    kind: "count",
    commands: ["check"],
    env: false,
    default: 5000,
  },
  "show-token": {
    help: "print the token in the argv instead of <redacted>",
    kind: "boolean",
    commands: ["render"],
    env: false,
  },
  // PARCA_SIDECAR_LISTEN first: statusCommand decides.
  address: {
    value: "ADDR",
    help: "the sidecar to ask: host:port or unix:/path (else PARCA_SIDECAR_LISTEN; else the default, then the shipped unit's unix:/run/parca-agent-sidecar/api.sock when it exists)",
    kind: "string",
    commands: ["status", "pause", "resume"],
    env: false,
    default: DEFAULT_LISTEN,
  },
  json: {
    help: "print JSON (status: the Status message; check: the CheckResult, also the default when stdout is not a terminal)",
    kind: "boolean",
    commands: ["status", "check"],
    env: false,
  },
  reason: {
    value: "TEXT",
    help: "why the agent's config is frozen, shown in status and the log",
    kind: "string",
    commands: ["pause"],
    env: false,
  },
  watch: {
    help: "print one line per change until interrupted",
    kind: "boolean",
    commands: ["status"],
    env: false,
  },
};

export function envName(option: string): string {
  return `PARCA_SIDECAR_${option.toUpperCase().replaceAll("-", "_")}`;
}
