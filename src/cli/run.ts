import { type Listening, serve } from "../api/server.js";
import { everyJittered } from "../core/backoff.js";
import { errnoOrMessage } from "../core/errors.js";
import { Phase } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import type { RunConfig } from "./run-config.js";
import { StartError, warmTrust } from "./run-setup.js";
import { type Wired, wire } from "./run-wiring.js";

export { StartError } from "./run-setup.js";

/**
 * `run`: watch, check, apply, serve — until SIGTERM/SIGINT, then stop the agent gracefully and
 * resolve with exit code 0. What it is made of is put together by `wire`; this is its life.
 */
export async function runCommand(
  config: RunConfig,
  env: NodeJS.ProcessEnv,
  destination: { write(line: string): unknown },
): Promise<number> {
  // From the first moment, a signal is caught: its default action would kill the sidecar and
  // lose its buffered log lines. Until the sidecar is put together it only aborts slow steps.
  const early = new EarlySignals();
  let wired: Wired;
  try {
    wired = await wire(config, env, destination, early.aborted);
  } finally {
    early.release();
  }
  const life = new Life(config, wired);
  life.handleSignals();
  if (early.received) {
    void life.stop(early.received);
    return life.done;
  }
  life.starting = start(config, wired, life);
  try {
    await life.starting;
  } catch (err) {
    life.unhandleSignals();
    throw err;
  }
  return life.done;
}

/** The API, then the watch and the loop; nothing more once a stop began (it waits for this). */
async function start(config: RunConfig, wired: Wired, life: Life): Promise<void> {
  life.servers.push(...(await listen(config, wired)));
  const { log, reconciler, watcher } = wired;
  let lastMessage = "";
  reconciler.onChange(() => {
    wired.see();
    const v = wired.current();
    if (v.message === lastMessage) return;
    lastMessage = v.message;
    log.info({ event: "status", phase: Phase[v.phase], ready: v.ready }, v.message);
  });
  // Loading a few hundred system roots costs ~100 ms: do it now, not in the first TLS check.
  setImmediate(() => warmTrust(config, wired.agentEnv, log));
  if (life.stopping) return;
  // Behind the relay the agent starts at once, on the relay; it waits there for a store.
  await wired.relay?.startAgent();
  if (life.stopping) return;
  await watcher.start();
  if (life.stopping) return;
  await reconciler.start();
  log.info({ event: "started", relations: config.relations }, "watching the relation data");
  life.startPeriodic();
}

/** SIGTERM, SIGINT and SIGHUP caught while the sidecar is put together. */
class EarlySignals {
  private readonly abort = new AbortController();
  /** The first SIGTERM or SIGINT, if one came. */
  received: string | undefined;
  private readonly onStop = (signal: NodeJS.Signals) => {
    this.received ??= signal;
    this.abort.abort();
  };
  // A reload before there is anything to reload means nothing.
  private readonly onHup = () => undefined;

  constructor() {
    process.on("SIGTERM", this.onStop).on("SIGINT", this.onStop).on("SIGHUP", this.onHup);
  }

  get aborted(): AbortSignal {
    return this.abort.signal;
  }

  release(): void {
    process.off("SIGTERM", this.onStop).off("SIGINT", this.onStop).off("SIGHUP", this.onHup);
  }
}

/** Serves the API (and health and metrics when asked); a failure to listen ends the start. */
async function listen(config: RunConfig, wired: Wired): Promise<Listening[]> {
  const servers: Listening[] = [];
  try {
    servers.push(await serve(config.listen, wired.api, { healthOnly: false }));
    if (config.healthListen)
      servers.push(await serve(config.healthListen, wired.api, { healthOnly: true }));
    if (wired.metrics && config.metricsListen)
      servers.push(await wired.metrics.serve(config.metricsListen));
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    await wired.unlockStateDir();
    throw new StartError(`cannot listen: ${(err as Error).message}`);
  }
  const [main, ...others] = servers;
  const health = config.healthListen ? others.shift() : undefined;
  const metricsAt = config.metricsListen ? others.shift() : undefined;
  wired.log.info(
    {
      event: "listening",
      address: main?.address,
      healthAddress: health?.address,
      metricsAddress: metricsAt?.address,
      mode: config.mode,
      stateDir: wired.stateDir,
    },
    "sidecar API listening",
  );
  return servers;
}

/** The running sidecar: its signals, its periodic work, and its one orderly stop. */
class Life {
  readonly done: Promise<number>;
  private resolveDone: (code: number) => void = () => undefined;
  stopping = false;
  /** The start of the watch and the loop, which a stop lets finish before it stops them. */
  starting: Promise<void> = Promise.resolve();
  private readonly periodic: (() => void)[] = [];
  private readonly onTerm = () => void this.stop("SIGTERM");
  private readonly onInt = () => void this.stop("SIGINT");
  private readonly onHup = () => void this.wired.reconciler.reload();

  /** What serves the API, health and metrics; closed at the stop. */
  readonly servers: Listening[] = [];

  constructor(
    private readonly config: RunConfig,
    private readonly wired: Wired,
  ) {
    this.done = new Promise<number>((resolve) => {
      this.resolveDone = resolve;
    });
  }

  handleSignals(): void {
    process.once("SIGTERM", this.onTerm);
    process.once("SIGINT", this.onInt);
    process.on("SIGHUP", this.onHup);
  }

  unhandleSignals(): void {
    process.off("SIGTERM", this.onTerm).off("SIGINT", this.onInt).off("SIGHUP", this.onHup);
  }

  /** The rescan, and the re-check of the applied config (skipped by the loop while it delivers). */
  startPeriodic(): void {
    if (this.stopping) return;
    const { reconciler } = this.wired;
    if (this.config.rescanMs > 0)
      this.periodic.push(everyJittered(this.config.rescanMs, () => void reconciler.trigger()));
    if (this.config.recheckMs > 0)
      this.periodic.push(everyJittered(this.config.recheckMs, () => void reconciler.recheck()));
  }

  async stop(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { log, watcher, reconciler, unlockStateDir } = this.wired;
    log.info({ event: "shutdown", signal }, "stopping");
    await this.step("finish starting", () => this.starting);
    for (const stopTimer of this.periodic) stopTimer();
    await this.step("close the relation watcher", () => watcher.close());
    // An agent under systemd (external mode) is not ours to stop when the sidecar stops.
    const ours = this.config.mode === "supervise";
    const { relay } = this.wired;
    await this.step("stop the agent", () =>
      reconciler.shutdown({ stopAgent: ours && relay === undefined }),
    );
    // Behind the relay, the loop's stop only refuses calls: the agent (if ours) stops here.
    if (relay) await this.step("close the relay", () => relay.shutdown());
    await this.step("close the API", () => Promise.all(this.servers.map((s) => s.close())));
    await this.step("release the state dir", unlockStateDir);
    log.info({ event: "stopped" }, "stopped");
    this.unhandleSignals();
    this.resolveDone(0);
  }

  /** A step of the shutdown that fails is logged, never thrown: the sidecar exits 0 anyway. */
  private async step(what: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.wired.log.error(
        { event: "shutdown_step_failed", step: what, error: errnoOrMessage(err) },
        `cannot ${what}`,
      );
    }
  }
}
