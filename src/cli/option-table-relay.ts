import { type OptionSpec, RUN } from "./option-spec.js";

/**
 * The options of `run --relay`: the agent talks to a local relay that never changes, and the
 * relay carries the store, its TLS and its token — a store change restarts nothing.
 */
export const RELAY_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  relay: {
    value: "ADDR",
    help: "run a local relay between the agent and the store: unix:/path/relay.sock or a loopback host:port; the agent is started once on it and a store change switches the relay, never restarting the agent",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "relay-group": {
    value: "GROUP",
    help: "the relay socket's group (a name or a number), made 0660; default: 0600, the sidecar's user alone",
    kind: "string",
    commands: RUN,
    env: true,
  },
  "relay-drain-timeout-ms": {
    value: "MS",
    help: "after a store change, how long calls in flight may finish on the store they started on",
    kind: "count",
    commands: RUN,
    env: true,
    default: 30_000,
  },
};
