import { createServer } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AgentSnapshot } from "../agent/runner.js";
import { joinHostPort, splitHostPort } from "../core/host-port.js";
import type { DeliveryView } from "../loop/state.js";
import type { ReconcileObserver } from "../reconcile/options.js";
import { type RelayStats, registerRelayMetrics } from "./relay-metrics.js";
import type { Listening } from "./server.js";

/** Why a config is rolled back; each series exists from the start, at 0. */
const ROLLBACK_REASONS = [
  "AGENT_CRASH_LOOP",
  "AGENT_WRITES_FAILING",
  "AGENT_NOT_CONNECTED",
  "AGENT_NOT_DELIVERING",
];

/** What the metrics read from the running sidecar, at each scrape. */
export interface MetricsSource {
  agent(): AgentSnapshot;
  delivery(): DeliveryView | undefined;
  /** The phase's name: RUNNING, DEGRADED, … */
  phase(): string;
  /** The last check's diagnosis code, OK when it passed, NONE before any. */
  diagnosis(): string;
  /** How long the desired config has not been what runs, in seconds; 0 when it is (or none). */
  heldSeconds(): number;
  readonly info: { readonly node: string; readonly mode: string; readonly version: string };
  /** Run with --relay: what it carried, per store. */
  relay?: RelayStats;
}

const PHASES = [
  "WAITING_FOR_RELATION",
  "CHECKING",
  "RUNNING",
  "DEGRADED",
  "INVALID_INPUT",
  "STOPPED",
];

/** The sidecar's Prometheus metrics, with the process defaults. Gauges never end in _total. */
export class Metrics {
  readonly registry = new Registry();
  private readonly checks: Counter<"result">;
  private readonly applies: Counter;
  private readonly reaction: Histogram;
  private readonly restarts: Counter<"reason">;
  private readonly rollbacks: Counter<"reason">;

  constructor(source: MetricsSource) {
    const agent = () => source.agent();
    const delivery = () => source.delivery();
    const registers = [this.registry];
    new Gauge({
      name: "parca_agent_sidecar_build_info",
      help: "Always 1, labelled with the sidecar's version.",
      labelNames: ["version"],
      registers,
    }).set({ version: source.info.version }, 1);
    new Gauge({
      name: "parca_agent_sidecar_info",
      help: "Always 1: the node (the agent's --node, else NODE_NAME, else the host name), the mode and the version.",
      labelNames: ["node", "mode", "version"],
      registers,
    }).set({ ...source.info }, 1);
    new Gauge({
      name: "parca_agent_sidecar_phase",
      help: "1 for the sidecar's current phase, 0 for the others.",
      labelNames: ["phase"],
      registers,
      collect() {
        const now = source.phase();
        for (const phase of PHASES) this.set({ phase }, phase === now ? 1 : 0);
      },
    });
    new Gauge({
      name: "parca_agent_sidecar_diagnosis",
      help: "1, labelled with the diagnosis of the last check of the desired config (OK when it passed, NONE before any).",
      labelNames: ["code"],
      registers,
      collect() {
        this.reset();
        this.set({ code: source.diagnosis() }, 1);
      },
    });
    new Gauge({
      name: "parca_agent_sidecar_desired_held_seconds",
      help: "How long the desired config has not been what the agent runs (held, rolled back, paused); 0 when it is.",
      registers,
      collect() {
        this.set(source.heldSeconds());
      },
    });
    if (source.relay) registerRelayMetrics(this.registry, source.relay);
    // The event-loop delay monitor samples every `precision` ms: at the default 10 ms it alone
    // costs ~12 ms of CPU a second; 500 ms keeps the lag histogram useful for a daemon.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 500 });
    // prom-client's own gauges named *_total (a counter's suffix) go: the same counts stay in
    // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources, by type.
    for (const name of [
      "nodejs_active_handles_total",
      "nodejs_active_requests_total",
      "nodejs_active_resources_total",
    ])
      this.registry.removeSingleMetric(name);
    new Gauge({
      name: "parca_agent_sidecar_agent_up",
      help: "1 while the agent runs (external mode: the last restart command succeeded), else 0.",
      registers,
      collect() {
        const a = agent();
        this.set(a.running && a.state !== "BACKOFF" ? 1 : 0);
      },
    });
    new Gauge({
      name: "parca_agent_sidecar_delivery_state",
      help: "1 for the state of the agent's delivery (from its own metrics), 0 for the others.",
      labelNames: ["state"],
      registers,
      collect() {
        const now = delivery()?.state;
        for (const state of ["UNKNOWN", "WAITING", "DELIVERING", "FAILING"])
          this.set({ state }, state === now ? 1 : 0);
      },
    });
    new Gauge({
      name: "parca_agent_sidecar_agent_writes",
      help: "The agent's write requests by result, as its metrics last showed them (since it started).",
      labelNames: ["result"],
      registers,
      collect() {
        const d = delivery();
        this.set({ result: "ok" }, d?.ok ?? 0);
        this.set({ result: "failed" }, d?.failed ?? 0);
      },
    });
    let seenCrashes = 0;
    this.restarts = new Counter({
      name: "parca_agent_sidecar_agent_restarts_total",
      help: "Agent restarts by reason: config (a new config), crash (it exited by itself), rollback.",
      labelNames: ["reason"],
      registers,
      collect() {
        const crashes = agent().crashes ?? 0;
        if (crashes > seenCrashes) this.inc({ reason: "crash" }, crashes - seenCrashes);
        seenCrashes = crashes;
      },
    });
    for (const reason of ["config", "crash", "rollback"]) this.restarts.inc({ reason }, 0);
    this.rollbacks = new Counter({
      name: "parca_agent_sidecar_rollbacks_total",
      help: "New configs rolled back, by reason (the Status.rejected code).",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of ROLLBACK_REASONS) this.rollbacks.inc({ reason }, 0);
    this.checks = new Counter({
      name: "parca_agent_sidecar_store_checks_total",
      help: "Store checks by result: ok, or the diagnosis code.",
      labelNames: ["result"],
      registers,
    });
    this.applies = new Counter({
      name: "parca_agent_sidecar_config_applies_total",
      help: "Store configs applied to the agent.",
      registers,
    });
    this.reaction = new Histogram({
      name: "parca_agent_sidecar_reaction_seconds",
      help: "From the first relation file event to the agent started with the new flags, check included.",
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
  }

  readonly observer: ReconcileObserver = {
    checked: (result) => {
      this.checks.inc({ result: result.ok ? "ok" : (result.diagnosis?.code ?? "UNKNOWN") });
    },
    applied: (reactionMs, restart) => {
      this.applies.inc();
      if (restart !== undefined) this.restarts.inc({ reason: restart });
      if (reactionMs !== undefined) this.reaction.observe(reactionMs / 1000);
    },
    rolledBack: (code) => {
      this.rollbacks.inc({ reason: code });
    },
  };

  /** Serves `/metrics` over plain HTTP on `host:port`. */
  serve(address: string): Promise<Listening> {
    const { host, port } = splitHostPort(address);
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        (err: unknown) =>
          res.writeHead(500, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`),
      );
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(port), host, () => {
        const bound = server.address();
        const realPort = typeof bound === "object" && bound ? bound.port : Number(port);
        resolve({
          address: joinHostPort(host, realPort),
          close: () =>
            new Promise<void>((done) => {
              server.closeAllConnections();
              server.close(() => done());
            }),
        });
      });
    });
  }
}
