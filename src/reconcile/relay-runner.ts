import type { Logger } from "pino";
import type { AgentSnapshot, Launch, Runner, RunnerEvent } from "../agent/runner.js";
import { Listeners } from "../core/listeners.js";
import type { StoreConfig } from "../relation/types.js";
import type { RelayCall, RelayUpstream } from "../relay/relay.js";
import type { RelayCalls } from "./relay-delivery.js";

/** What the runner needs of the relay. */
export interface RelayPort {
  readonly address: string;
  setUpstream(upstream: RelayUpstream | undefined, reason?: string): void;
  close(): Promise<void>;
}

export interface RelayRunnerOptions {
  readonly relay: RelayPort;
  /**
   * The agent the sidecar runs (supervise mode), started once with `launch`; undefined: it
   * runs elsewhere (its own container), its flags fixed at the relay's address.
   */
  readonly agent?: { readonly runner: Runner; readonly launch: Launch };
  /** The store as the relay reaches it; throws ApplyError when it cannot be set up. */
  readonly upstreamFor: (store: StoreConfig) => Promise<RelayUpstream>;
  readonly log: Logger;
}

/** Why calls are refused once the relation is gone. */
const REMOVED = "the parca_store relation was removed: no store to send profiles to";

/**
 * The relay executor of the loop's effects: "apply" and "roll back" switch the relay's store,
 * "stop" refuses new calls; the agent is started once, on the relay's address, and never
 * restarted for a store change. Calls in flight finish on the store they started on.
 */
export class RelayRunner implements Runner {
  readonly keepsAgent = true;
  /** The store new calls go to; undefined: they are refused. */
  private current: string | undefined;
  /** Each upstream the relay was given, and the launch it was given for. */
  private readonly launches = new WeakMap<RelayUpstream, Launch>();
  private readonly listeners = new Listeners<RunnerEvent>();
  private readonly callListeners = new Listeners<{
    launch: Launch;
    path: string;
    ended?: RelayCall;
  }>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly options: RelayRunnerOptions) {
    // The agent's own events (its crash restarts are its runner's) say nothing of a store.
    this.unsubscribe = options.agent?.runner.subscribe((event) => this.listeners.emit(event));
  }

  /**
   * Supervise mode: starts the agent on the relay's address, unless it was started already. Called
   * at start-up, before any store is known: the agent loads while calls are refused, and the first
   * store makes profiles flow at its next write. A start that fails is retried by the supervisor,
   * and by the next apply.
   */
  async startAgent(signal?: AbortSignal): Promise<void> {
    const { agent } = this.options;
    if (agent && !agent.runner.snapshot().prepared) await agent.runner.apply(agent.launch, signal);
  }

  async apply(launch: Launch, signal?: AbortSignal): Promise<void> {
    const { relay, log } = this.options;
    const upstream = await this.options.upstreamFor(launch.store);
    await this.startAgent(signal);
    this.launches.set(upstream, launch);
    relay.setUpstream(upstream);
    const from = this.current;
    this.current = upstream.address;
    log.info(
      { event: "relay_switched", ...(from ? { from } : {}), to: upstream.address },
      `new calls through the relay go to ${upstream.address}`,
    );
    this.listeners.emit({ type: "state" });
  }

  /** The relation is gone: new calls are refused with why; the agent keeps running. */
  async stop(): Promise<void> {
    this.options.relay.setUpstream(undefined, REMOVED);
    this.current = undefined;
    this.options.log.info({ event: "relay_refusing" }, `the relay refuses calls: ${REMOVED}`);
    this.listeners.emit({ type: "state" });
  }

  /** The sidecar stops: the relay closes (calls in flight finish), then the agent stops if ours. */
  async shutdown(): Promise<void> {
    this.unsubscribe?.();
    await this.options.relay.close();
    await this.options.agent?.runner.stop();
  }

  snapshot(): AgentSnapshot {
    const agent = this.options.agent?.runner.snapshot();
    if (agent) return agent;
    return {
      state: "EXTERNAL",
      pid: 0,
      restarts: 0,
      running: this.current !== undefined,
      args: [],
      prepared: true,
      notice: `the agent runs elsewhere, pointed at the relay ${this.options.relay.address}`,
    };
  }

  subscribe(listener: (event: RunnerEvent) => void): () => void {
    return this.listeners.subscribe(listener);
  }

  /** A call the relay sent on: told to the watchers of the launch its store was applied for. */
  started(upstream: RelayUpstream, path: string): void {
    const launch = this.launches.get(upstream);
    if (launch) this.callListeners.emit({ launch, path });
  }

  /** A call the relay carried ended. */
  carried(call: RelayCall): void {
    const launch = this.launches.get(call.upstream);
    if (launch) this.callListeners.emit({ launch, path: call.path, ended: call });
  }

  /** The calls the relay carries, by the launch whose store they go to. */
  readonly calls: RelayCalls = (listener) =>
    this.callListeners.subscribe(({ launch, path, ended }) => listener(launch, path, ended));
}
