import { DEFAULT_LISTEN, type OptionSpec } from "./option-spec.js";

/** The options of the one-shot commands: `check`, `render`, and those that ask a running sidecar. */
export const ONE_SHOT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
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
  // Without --address: PARCA_SIDECAR_LISTEN, the default, then the unit's socket (client.ts's sidecarAddresses).
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
