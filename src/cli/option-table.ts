/** Every option of every command, in one table: the help, the parser and the defaults read it. */

import { ALL_READERS, DEFAULT_LISTEN, type OptionSpec, RUN } from "./option-spec.js";
import { EXTERNAL_OPTIONS } from "./option-table-external.js";
import { ONE_SHOT_OPTIONS } from "./option-table-one-shot.js";
import { RELAY_OPTIONS } from "./option-table-relay.js";

export type { Command, Kind, OptionSpec } from "./option-spec.js";
export { DEFAULT_LISTEN, envName } from "./option-spec.js";

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
    help: "the agent's version (supervise mode: asked from the binary when not given): decides which write RPC the check probes, makes the agent's metrics expected; --flags-format yaml needs v0.41.1+",
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
  ...EXTERNAL_OPTIONS,
  ...RELAY_OPTIONS,
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
  // "pretty" on a TTY: runConfig decides.
  "log-format": {
    value: "FORMAT",
    help: "one JSON object a line, or pretty (the default on a TTY)",
    kind: "string",
    commands: RUN,
    env: true,
    default: "json",
    choices: ["json", "pretty"],
  },
  ...ONE_SHOT_OPTIONS,
};
