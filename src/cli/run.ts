import { join } from "node:path";
import { learnAgentVersion } from "../agent/agent-version.js";
import { Supervisor } from "../agent/supervisor.js";
import { type Listening, serve } from "../api/server.js";
import { DEFAULT_BACKOFF, everyJittered } from "../core/backoff.js";
import { errnoOrMessage } from "../core/errors.js";
import { Since } from "../core/since.js";
import { scrape } from "../delivery/scrape.js";
import { Phase } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { createLogger, Secrets } from "../log.js";
import { storeChecker } from "../reconcile/checker.js";
import { PauseFile } from "../reconcile/pause.js";
import { Reconciler } from "../reconcile/reconciler.js";
import { RelationReader } from "../reconcile/sources.js";
import type { DeliveryView } from "../reconcile/state.js";
import { StateFile } from "../reconcile/state-file.js";
import { desiredNotRunning, view } from "../reconcile/status.js";
import { buildStatus } from "../reconcile/status-message.js";
import { RelationWatcher } from "../reconcile/watch.js";
import { failedCheck } from "../store/check.js";
import { diagnose } from "../store/diagnosis.js";
import { diagnosisCode, nodeName } from "./fleet.js";
import type { RunConfig } from "./run-config.js";
import {
  makeRunner,
  metricsMemory,
  operatorSecrets,
  prepareStateDir,
  StartError,
  warmTrust,
} from "./run-setup.js";
import { version } from "./version.js";

export { StartError } from "./run-setup.js";

/**
 * `run`: watch, check, apply, serve — until SIGTERM/SIGINT, then stop the agent gracefully and
 * resolve with exit code 0.
 */
export async function runCommand(
  config: RunConfig,
  env: NodeJS.ProcessEnv,
  destination: { write(line: string): unknown },
): Promise<number> {
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
  const runner = await makeRunner(config, stateDir, agentEnv, log, secrets).catch(
    async (err: unknown) => {
      await unlockStateDir();
      throw err;
    },
  );
  if (runner instanceof Supervisor) {
    // A predecessor killed without cleaning up may have left its agent running.
    await runner.reapPredecessors();
  }
  // The version decides which RPC the check probes and whether delivery metrics are expected:
  // in supervise mode the binary itself says it, unless --agent-version does.
  const agentVersion =
    config.agentVersion ??
    (runner instanceof Supervisor
      ? await learnAgentVersion(config.agentPath, agentEnv)
      : undefined);
  log.info(
    {
      event: "agent_version",
      version: agentVersion ?? "unknown",
      from: config.agentVersion ? "--agent-version" : agentVersion ? "--version" : "none",
    },
    agentVersion
      ? `parca-agent ${agentVersion}`
      : "the agent's version is unknown: the newest agent's behaviour is assumed",
  );
  // Metrics only when served: their event-loop monitor wakes the process up all the time, and
  // prom-client alone adds ~5 MB of heap and ~80 ms to every start-up.
  const metrics = config.metricsListen
    ? new (await import("../api/metrics.js")).Metrics({
        agent: () => runner.snapshot(),
        delivery: (): DeliveryView | undefined => reconciler.state.delivery,
        phase: (): string => Phase[current().view.phase] ?? "UNSPECIFIED",
        diagnosis: (): string => diagnosisCode(reconciler.state),
        heldSeconds: (): number => {
          const held = desiredNotRunning(reconciler.state) !== undefined;
          return held ? (Date.now() - heldSince.see(held)) / 1000 : 0;
        },
        info: { node: nodeName(config.baseArgs, env), mode: config.mode, version: version() },
      })
    : undefined;
  /** Since when the desired config has (not) been what runs: the fleet's held gauge. */
  const heldSince = new Since(false);
  const checker = storeChecker({
    baseArgs: config.baseArgs,
    env: agentEnv,
    timeoutMs: config.checkTimeoutMs,
    ...(config.caFile ? { caFile: config.caFile } : {}),
    ...(agentVersion ? { agentVersion } : {}),
    secrets,
  });
  const reconciler = new Reconciler({
    sources: new RelationReader(config.relations),
    baseArgs: config.baseArgs,
    render: { tokenMode: config.tokenMode, stateDir },
    unverified: config.unverified,
    onRemove: config.onRemove,
    removeGraceMs: config.removeGraceMs,
    minUptimeMs: config.minUptimeMs,
    retry: DEFAULT_BACKOFF,
    pauseFile: new PauseFile(join(stateDir, "paused.json")),
    runner,
    ...(metrics ? { observer: metrics.observer } : {}),
    checker,
    state: new StateFile(stateDir),
    log: log.child({ component: "reconcile" }),
    secrets,
    unsettledSince: () => watcher.unsettledSince,
    delivery: {
      url: config.agentMetricsUrl,
      timeoutMs: config.deliveryTimeoutMs,
      expected: agentVersion !== undefined,
      memory: metricsMemory(stateDir),
      scrape,
    },
  });
  const watcher = new RelationWatcher({
    paths: config.relations,
    debounceMs: config.debounceMs,
    log: log.child({ component: "watch" }),
    onFirstEvent: () => void reconciler.prefetch(),
    onChange: (firstEventAt) => void reconciler.trigger(firstEventAt),
  });
  const current = () => {
    const agent = runner.snapshot();
    return { agent, view: view(reconciler.state, agent, config.onRemove === "keep") };
  };
  const startedAt = new Date();
  /** Since when the phase holds: looked at on every change of the loop (agent events included). */
  const phaseSince = new Since(current().view.phase, startedAt.getTime());
  const api = {
    status: () => {
      const { agent, view: v } = current();
      const facts = {
        version: version(),
        startedAt,
        phaseSince: new Date(phaseSince.see(v.phase)),
      };
      return buildStatus(reconciler.state, agent, v, watcher.currentProblems(), facts);
    },
    alive: () => reconciler.state.work.kind !== "stopped",
    ready: () => current().view.ready,
    started: () => runner.snapshot().prepared === true,
    onChange: (listener: () => void) => reconciler.onChange(listener),
    checkStore: async () =>
      (await reconciler.checks.desired(() => void reconciler.trigger())) ??
      failedCheck("", false, diagnose("NOT_CONFIGURED", { address: "", host: "" })),
    reload: () => reconciler.reload(),
    pause: (reason: string) => reconciler.pause(reason),
    resume: () => reconciler.resume(),
  };

  const periodic: (() => void)[] = [];
  const servers: Listening[] = [];
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  let stopping = false;
  const hup = () => void reconciler.reload();
  /** A step of the shutdown that fails is logged, never thrown: the sidecar exits 0 anyway. */
  const step = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      log.error(
        { event: "shutdown_step_failed", step: what, error: errnoOrMessage(err) },
        `cannot ${what}`,
      );
    }
  };
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: "shutdown", signal }, "stopping");
    for (const stopTimer of periodic) stopTimer();
    await step("close the relation watcher", () => watcher.close());
    // An agent under systemd (external mode) is not ours to stop when the sidecar stops.
    await step("stop the agent", () =>
      reconciler.shutdown({ stopAgent: config.mode === "supervise" }),
    );
    await step("close the API", () => Promise.all(servers.map((s) => s.close())));
    await step("release the state dir", unlockStateDir);
    log.info({ event: "stopped" }, "stopped");
    process.off("SIGHUP", hup);
    resolveDone(0);
  };
  // Handlers first: a SIGHUP's default action would kill the sidecar.
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  process.on("SIGHUP", hup);

  try {
    servers.push(await serve(config.listen, api, { healthOnly: false }));
    if (config.healthListen)
      servers.push(await serve(config.healthListen, api, { healthOnly: true }));
    if (metrics && config.metricsListen) servers.push(await metrics.serve(config.metricsListen));
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    process.removeAllListeners("SIGTERM").removeAllListeners("SIGINT").off("SIGHUP", hup);
    await unlockStateDir();
    throw new StartError(`cannot listen: ${(err as Error).message}`);
  }
  const [main, ...others] = servers;
  const health = config.healthListen ? others.shift() : undefined;
  const metricsAt = config.metricsListen ? others.shift() : undefined;
  log.info(
    {
      event: "listening",
      address: main?.address,
      healthAddress: health?.address,
      metricsAddress: metricsAt?.address,
      mode: config.mode,
      stateDir,
    },
    "sidecar API listening",
  );

  let lastMessage = "";
  reconciler.onChange(() => {
    const { view: v } = current();
    phaseSince.see(v.phase);
    heldSince.see(desiredNotRunning(reconciler.state) !== undefined);
    if (v.message !== lastMessage) {
      lastMessage = v.message;
      log.info({ event: "status", phase: Phase[v.phase], ready: v.ready }, v.message);
    }
  });

  // Loading a few hundred system roots costs ~100 ms: do it now, not in the first TLS check.
  setImmediate(() => warmTrust(config, agentEnv, log));
  await watcher.start();
  await reconciler.start();
  log.info({ event: "started", relations: config.relations }, "watching the relation data");
  if (!stopping && config.rescanMs > 0)
    periodic.push(everyJittered(config.rescanMs, () => void reconciler.trigger()));
  // The store is re-checked only while the agent's own writes do not prove it reachable.
  if (!stopping && config.recheckMs > 0) {
    const recheck = () => {
      if (reconciler.state.delivery?.state !== "DELIVERING")
        void reconciler.checks.recheckApplied();
    };
    periodic.push(everyJittered(config.recheckMs, recheck));
  }
  return done;
}
