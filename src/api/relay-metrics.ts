import { Counter, type Registry } from "prom-client";
import type { RelayStoreStats } from "../relay/relay.js";

export type RelayStats = () => ReadonlyMap<string, Readonly<RelayStoreStats>>;

/**
 * Per-store counters of what the relay carried: calls, and bytes each way (gRPC frames as
 * relayed, headers excluded). Read from the relay at each scrape; they only grow.
 */
export function registerRelayMetrics(registry: Registry, stats: RelayStats): void {
  new Counter({
    name: "parca_agent_sidecar_relay_calls_total",
    help: "Calls the relay carried, by store (host:port): any service and method, ended or cut.",
    labelNames: ["store"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [store, s] of stats()) this.inc({ store }, s.calls);
    },
  });
  new Counter({
    name: "parca_agent_sidecar_relay_bytes_total",
    help: "Bytes the relay carried, by store and direction (up: agent to store; down: store to agent).",
    labelNames: ["store", "direction"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [store, s] of stats()) {
        this.inc({ store, direction: "up" }, s.bytesUp);
        this.inc({ store, direction: "down" }, s.bytesDown);
      }
    },
  });
}
