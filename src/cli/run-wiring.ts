// What `run` is made of, put together: the logger, the locked state dir, the runner for the mode,
// the agent's version, the check, the loop, the relation watcher, metrics and the API's
// handlers. Nothing here starts or stops; src/cli/run.ts does.
import { learnAgentVersion } from "../agent/agent-version.js";
import type { Runner } from "../agent/runner.js";
import { Supervisor } from "../agent/supervisor.js";
import { diagnosisCode, nodeName } from "../api/fleet.js";
import type { Metrics, MetricsSource } from "../api/metrics.js";
import type { ApiSource } from "../api/server.js";
import { buildStatus } from "../api/status-message.js";
import { DEFAULT_BACKOFF } from "../core/backoff.js";
import { Since } from "../core/since.js";
import { scrape } from "../delivery/scrape.js";
import { Phase } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { createLogger, type Logger } from "../log.js";
import { desiredNotRunning, view } from "../loop/view.js";
import { storeChecker } from "../reconcile/checker.js";
import { Reconciler } from "../reconcile/reconciler.js";
import type { RelayRunner } from "../reconcile/relay-runner.js";
import { RelationReader } from "../relation/reader.js";
import { RelationWatcher } from "../relation/watch.js";
import type { Relay } from "../relay/relay.js";
import { Secrets } from "../secrets.js";
import { KnownGoodFile } from "../state-dir/known-good-file.js";
import { metricsMemory } from "../state-dir/metrics-memory.js";
import { PauseFile } from "../state-dir/pause-file.js";
import { failedCheck } from "../store/check.js";
import { diagnose } from "../store/diagnosis.js";
import type { RunConfig } from "./run-config.js";
import { makeRelayRunner } from "./run-relay.js";
import { makeRunner, operatorSecrets, prepareStateDir } from "./run-setup.js";
import { version } from "./version.js";

/** Everything `run` starts, serves and stops. */
export interface Wired {
  readonly log: Logger;
  readonly stateDir: string;
  readonly unlockStateDir: () => Promise<void>;
  readonly agentEnv: NodeJS.ProcessEnv;
  readonly runner: Runner;
  /** Run with --relay: its executor, which closes the relay (and stops our agent) at the end. */
  readonly relay?: RelayRunner;
  readonly reconciler: Reconciler;
  readonly watcher: RelationWatcher;
  readonly metrics: Metrics | undefined;
  readonly api: ApiSource;
  /** Phase, readiness and message now. */
  readonly current: () => ReturnType<typeof view>;
  /** Since when the desired config has (not) been what runs, and the phase: seen on changes. */
  readonly see: () => void;
}

/** Puts the sidecar together. `stopping` aborts once a stop was asked for: slow steps give up. */
export async function wire(
  config: RunConfig,
  env: NodeJS.ProcessEnv,
  destination: { write(line: string): unknown },
  stopping?: AbortSignal,
): Promise<Wired> {
  const secrets = new Secrets();
  operatorSecrets(config, env, secrets);
  const log = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    secrets,
    destination,
  });
  const { real: stateDir, release: unlockStateDir } = await prepareStateDir(config.stateDir);
  const agentEnv = { ...env };
  const made = await makeRunners(config, stateDir, agentEnv, log, secrets).catch(
    async (err: unknown) => {
      await unlockStateDir();
      throw err;
    },
  );
  const { runner, agent, relay } = made;
  // A predecessor killed without cleaning up may have left its agent running.
  if (agent instanceof Supervisor) await agent.reapPredecessors();
  const agentVersion = await agentVersionOf(config, agent, agentEnv, log, stopping);
  const reconciler: Reconciler = new Reconciler({
    sources: new RelationReader(config.relations),
    baseArgs: config.baseArgs,
    render: { tokenMode: config.tokenMode, stateDir },
    unverified: config.unverified,
    onRemove: config.onRemove,
    removeGraceMs: config.removeGraceMs,
    minUptimeMs: config.minUptimeMs,
    retry: DEFAULT_BACKOFF,
    pauseFile: new PauseFile(stateDir),
    runner,
    checker: storeChecker({
      baseArgs: config.baseArgs,
      env: agentEnv,
      timeoutMs: config.checkTimeoutMs,
      ...(config.caFile ? { caFile: config.caFile } : {}),
      ...(agentVersion ? { agentVersion } : {}),
      secrets,
    }),
    knownGood: new KnownGoodFile(stateDir),
    log: log.child({ component: "reconcile" }),
    secrets,
    unsettledSince: () => watcher.unsettledSince,
    delivery: {
      url: config.agentMetricsUrl,
      timeoutMs: config.deliveryTimeoutMs,
      expected: agentVersion !== undefined,
      memory: metricsMemory(stateDir),
      scrape,
      ...(relay ? { relay: { address: relay.relay.address, calls: relay.runner.calls } } : {}),
    },
  });
  const watcher = new RelationWatcher({
    paths: config.relations,
    debounceMs: config.debounceMs,
    log: log.child({ component: "watch" }),
    onFirstEvent: () => void reconciler.prefetch(),
    onChange: (firstEventAt) => void reconciler.trigger(firstEventAt),
  });
  const current = () => view(reconciler.state, runner.snapshot(), config.onRemove === "keep");
  const startedAt = new Date();
  const phaseSince = new Since(current().phase, startedAt.getTime());
  /** Since when the desired config has (not) been what runs: the fleet's held gauge. */
  const heldSince = new Since(false);
  const held = () => desiredNotRunning(reconciler.state) !== undefined;
  const metrics = await metricsFor(config, env, {
    agent: () => runner.snapshot(),
    delivery: () => reconciler.state.delivery,
    phase: () => Phase[current().phase] ?? "UNSPECIFIED",
    diagnosis: () => diagnosisCode(reconciler.state),
    heldSeconds: () => (held() ? (Date.now() - heldSince.see(true)) / 1000 : 0),
    ...(relay ? { relay: () => relay.relay.stats() } : {}),
  });
  if (metrics) reconciler.observe(metrics.observer);
  const api: ApiSource = {
    status: () => {
      const agent = runner.snapshot();
      const v = view(reconciler.state, agent, config.onRemove === "keep");
      const facts = {
        version: version(),
        startedAt,
        phaseSince: new Date(phaseSince.see(v.phase)),
      };
      return buildStatus(reconciler.state, agent, v, watcher.currentProblems(), facts);
    },
    alive: () => reconciler.state.work.kind !== "stopped",
    ready: () => current().ready,
    started: () => runner.snapshot().prepared === true,
    onChange: (listener: () => void) => reconciler.onChange(listener),
    checkStore: async () =>
      (await reconciler.checkDesired()) ??
      failedCheck("", false, diagnose("NOT_CONFIGURED", { address: "", host: "" })),
    reload: () => reconciler.reload(),
    pause: (reason: string) => reconciler.pause(reason),
    resume: () => reconciler.resume(),
  };
  const see = () => {
    phaseSince.see(current().phase);
    heldSince.see(held());
  };
  return {
    log,
    ...(relay ? { relay: relay.runner } : {}),
    stateDir,
    unlockStateDir,
    agentEnv,
    runner,
    reconciler,
    watcher,
    metrics,
    api,
    current,
    see,
  };
}

/**
 * The runner the loop drives, the agent the sidecar runs itself (supervise mode) and, with
 * --relay, the relay: its executor wraps that agent, or stands alone when the agent runs
 * elsewhere pointed at it.
 */
async function makeRunners(
  config: RunConfig,
  stateDir: string,
  agentEnv: NodeJS.ProcessEnv,
  log: Logger,
  secrets: Secrets,
): Promise<{ runner: Runner; agent?: Runner; relay?: { runner: RelayRunner; relay: Relay } }> {
  const { relay } = config;
  if (relay === undefined) {
    const runner = await makeRunner(config, stateDir, agentEnv, log, secrets);
    return { runner, agent: runner };
  }
  const agent =
    config.mode === "supervise"
      ? await makeRunner(config, stateDir, agentEnv, log, secrets)
      : undefined;
  const made = await makeRelayRunner({ ...config, relay }, agent, agentEnv, log, secrets);
  return { runner: made.runner, ...(agent ? { agent } : {}), relay: made };
}

/**
 * The version decides which RPC the check probes and whether delivery metrics are expected: in
 * supervise mode the binary itself says it, unless --agent-version does.
 */
async function agentVersionOf(
  config: RunConfig,
  runner: Runner | undefined,
  agentEnv: NodeJS.ProcessEnv,
  log: Logger,
  stopping?: AbortSignal,
): Promise<string | undefined> {
  const learned =
    config.agentVersion ??
    (runner instanceof Supervisor
      ? await learnAgentVersion(config.agentPath, agentEnv, undefined, stopping)
      : undefined);
  log.info(
    {
      event: "agent_version",
      version: learned ?? "unknown",
      from: config.agentVersion ? "--agent-version" : learned ? "--version" : "none",
    },
    learned
      ? `parca-agent ${learned}`
      : "the agent's version is unknown: the newest agent's behaviour is assumed",
  );
  return learned;
}

/**
 * Metrics only when served: their event-loop monitor wakes the process up all the time, and
 * prom-client alone adds ~5 MB of heap and ~80 ms to every start-up.
 */
async function metricsFor(
  config: RunConfig,
  env: NodeJS.ProcessEnv,
  sources: Omit<MetricsSource, "info">,
): Promise<Metrics | undefined> {
  if (!config.metricsListen) return undefined;
  const { Metrics } = await import("../api/metrics.js");
  const info = { node: nodeName(config.baseArgs, env), mode: config.mode, version: version() };
  return new Metrics({ ...sources, info });
}
