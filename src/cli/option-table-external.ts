import { type OptionSpec, RUN } from "./option-spec.js";

/**
 * The options of `run --mode external`: where the flags go, and how the agent managed elsewhere
 * is restarted (a command, or in a pod the kubelet) and found.
 */
export const EXTERNAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
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
  "restart-timeout-ms": {
    value: "MS",
    help: "external mode: a restart or stop command running longer is killed with its process group, reported (RESTART_FAILED) and retried",
    kind: "count",
    commands: RUN,
    env: true,
    default: 60_000,
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
};
