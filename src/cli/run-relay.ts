// What `run --relay` adds: the relay, listening before the agent starts, and its executor.
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { relayFlags } from "../agent/flags.js";
import type { Launch, Runner } from "../agent/runner.js";
import { errnoOrMessage } from "../core/errors.js";
import type { Logger } from "../log.js";
import { RelayRunner } from "../reconcile/relay-runner.js";
import { relayUpstream } from "../reconcile/relay-upstream.js";
import type { RelayAddress } from "../relay/address.js";
import { Relay, type RelayOptions } from "../relay/relay.js";
import type { Secrets } from "../secrets.js";
import type { RelayConfig, RunConfig } from "./run-config.js";
import { StartError } from "./run-setup.js";

/** The relay's address as the agent's --remote-store-address (grpc-go's unix:///path form). */
export function agentRelayAddress(bound: string): string {
  return bound.startsWith("unix:") ? `unix://${bound.slice("unix:".length)}` : bound;
}

/** The group's number: a number as given, or a name looked up in /etc/group. */
async function groupId(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const lines = await readFile("/etc/group", "utf8").catch(() => "");
  for (const line of lines.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new StartError(`--relay-group ${JSON.stringify(group)}: no such group in /etc/group`);
}

async function listenRelay(
  relay: RelayConfig,
  hooks: Pick<RelayOptions, "onCallStart" | "onCall">,
): Promise<Relay> {
  const address: RelayAddress = relay.address;
  const gid = relay.group === undefined ? undefined : await groupId(relay.group);
  try {
    if ("path" in address) await mkdir(dirname(address.path), { recursive: true, mode: 0o755 });
    return await Relay.listen(address, {
      drainTimeoutMs: relay.drainTimeoutMs,
      socketMode: gid === undefined ? 0o600 : 0o660,
      ...(gid === undefined ? {} : { socketGid: gid }),
      ...hooks,
    });
  } catch (err) {
    throw new StartError(`cannot listen for the relay: ${errnoOrMessage(err)}`);
  }
}

/**
 * The relay and its executor: listening before anything starts, calls refused until the first
 * store is applied. Supervise mode hands it the agent to start once, on the relay's address.
 */
export async function makeRelayRunner(
  config: RunConfig & { readonly relay: RelayConfig },
  agent: Runner | undefined,
  env: NodeJS.ProcessEnv,
  log: Logger,
  secrets: Secrets,
): Promise<{ runner: RelayRunner; relay: Relay }> {
  let runner: RelayRunner | undefined;
  const relay = await listenRelay(config.relay, {
    onCallStart: (upstream, path) => runner?.started(upstream, path),
    onCall: (call) => runner?.carried(call),
  });
  const rendered = relayFlags(config.baseArgs, agentRelayAddress(relay.address));
  const launch: Launch = {
    store: { address: relay.address, insecure: true },
    argv: rendered.argv,
    unsetEnv: rendered.unsetEnv,
  };
  runner = new RelayRunner({
    relay,
    ...(agent ? { agent: { runner: agent, launch } } : {}),
    upstreamFor: (store) =>
      relayUpstream(store, {
        baseArgs: config.baseArgs,
        env,
        ...(config.caFile ? { caFile: config.caFile } : {}),
        secrets,
      }),
    log: log.child({ component: "relay" }),
  });
  log.info(
    { event: "relay_listening", address: relay.address },
    agent
      ? `relay listening at ${relay.address}: the agent is started once on it`
      : `relay listening at ${relay.address}: point the agent's --remote-store-address at ${agentRelayAddress(relay.address)} with --remote-store-insecure`,
  );
  return { runner, relay };
}
