// What `run` prepares before its loop starts: the state dir (locked), the runner for the mode,
// the secrets the operator handed the agent, the trust store, the delivery marker.
import { mkdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { ExternalRunner } from "../agent/external.js";
import { FlagsFormatError, parseConfigBase } from "../agent/flags-file.js";
import { AgentLocator } from "../agent/locate.js";
import type { Runner } from "../agent/runner.js";
import { Supervisor } from "../agent/supervisor.js";
import { errnoOrMessage } from "../core/errors.js";
import { ENV_TOKEN, FLAG_TOKEN, parseFlags } from "../flag-names.js";
import type { Logger } from "../log.js";
import type { Secrets } from "../secrets.js";
import { lockStateDir, StateDirLocked } from "../state-dir/lock.js";
import { secureContextFor } from "../store/tls-context.js";
import type { RunConfig } from "./run-config.js";

/** A failure to start: printed on stderr, exit 1. */
export class StartError extends Error {
  override readonly name = "StartError";
}

/**
 * The state dir must exist, be this sidecar's alone (locked before anything in it is touched)
 * and be writable before anything runs (it holds the pidfile).
 */
export async function prepareStateDir(
  dir: string,
): Promise<{ real: string; release(): Promise<void> }> {
  const unusable = (err: unknown) =>
    new StartError(`state dir ${dir} is unusable: ${errnoOrMessage(err)}`);
  let real: string;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    real = await realpath(dir);
  } catch (err) {
    throw unusable(err);
  }
  let lock: { release(): Promise<void> };
  try {
    lock = await lockStateDir(real);
  } catch (err) {
    if (err instanceof StateDirLocked) throw new StartError(err.message);
    throw unusable(err);
  }
  try {
    const probe = `${real}/.write-test-${process.pid}`;
    await writeFile(probe, "");
    await rm(probe);
    return { real, release: () => lock.release() };
  } catch (err) {
    await lock.release();
    throw unusable(err);
  }
}

export function warmTrust(config: RunConfig, env: NodeJS.ProcessEnv, log: Logger): void {
  try {
    secureContextFor({ ...(config.caFile ? { caFile: config.caFile } : {}), env });
  } catch (err) {
    log.warn(
      { event: "trust_load_failed", error: (err as Error).message },
      "cannot load the CA certificates",
    );
  }
}

/** Secrets the operator handed the agent directly: scrubbed from every line too. */
export function operatorSecrets(config: RunConfig, env: NodeJS.ProcessEnv, secrets: Secrets): void {
  secrets.add(env[ENV_TOKEN]);
  for (const token of parseFlags(config.baseArgs).get(FLAG_TOKEN) ?? []) secrets.add(token);
}

/** --agent-config-base, read once at start: a YAML mapping, or a StartError saying why not. */
async function configBase(path: string | undefined): Promise<Record<string, unknown> | undefined> {
  if (path === undefined) return undefined;
  try {
    return parseConfigBase(await readFile(path, "utf8"));
  } catch (err) {
    const why = err instanceof FlagsFormatError ? err.message : errnoOrMessage(err);
    throw new StartError(`--agent-config-base ${path}: ${why}`);
  }
}

export async function makeRunner(
  config: RunConfig,
  stateDir: string,
  env: NodeJS.ProcessEnv,
  log: Logger,
  secrets: Secrets,
): Promise<Runner> {
  if (config.mode === "external") {
    const base = await configBase(config.agentConfigBase);
    // In a pod, the downward API's POD_UID keeps other pods' agents out of reach.
    const at = config.agentLocation;
    const location =
      at?.kind === "process" && env.POD_UID
        ? { ...at, spec: { ...at.spec, podUid: env.POD_UID } }
        : at;
    return new ExternalRunner({
      flagsFile: config.flagsFile as string,
      format: config.flagsFormat,
      ...(base ? { configBase: base } : {}),
      ...(config.restartCommand ? { restartCommand: config.restartCommand } : {}),
      ...(config.stopCommand ? { stopCommand: config.stopCommand } : {}),
      commandTimeoutMs: config.restartTimeoutMs,
      ...(location?.kind === "process"
        ? {
            podAgent: {
              ...location.spec,
              stopTimeoutMs: config.stopTimeoutMs,
              restartWaitMs: config.restartWaitMs,
            },
          }
        : {}),
      ...(location
        ? {
            locator: new AgentLocator(location, {
              file: config.flagsFile as string,
              format: config.flagsFormat,
              ...(base ? { base } : {}),
            }),
          }
        : {}),
      env,
      log: log.child({ component: "external" }),
      secrets,
    });
  }
  return new Supervisor({
    agentPath: config.agentPath,
    stateDir,
    stopTimeoutMs: config.stopTimeoutMs,
    env,
    log: log.child({ component: "agent" }),
    secrets,
  });
}
