import { resolve } from "node:path";
import { CommandSyntaxError, splitCommand } from "../agent/command.js";
import type { TokenMode } from "../agent/flags.js";
import type { FlagsFormat } from "../agent/flags-file.js";
import { type AgentLocation, UNIT_NAME } from "../agent/locate.js";
import { splitHostPort } from "../core/host-port.js";
import { olderThan, parseVersion } from "../core/version.js";
import { metricsUrlFromArgs } from "../delivery/scrape.js";
import type { LogFormat } from "../log.js";
import type { OnRemove, Unverified } from "../loop/state.js";
import { parseRelayAddress, type RelayAddress, RelayAddressError } from "../relay/address.js";
import { validateCaFile } from "./ca-file.js";
import { type LOG_LEVELS, type Options, UsageError } from "./options.js";

/** Every `run` setting, validated once, defaults filled in, units in names. */
export interface RunConfig {
  readonly relations: readonly string[];
  readonly agentPath: string;
  readonly agentVersion?: string;
  readonly mode: "supervise" | "external";
  readonly flagsFile?: string;
  readonly flagsFormat: FlagsFormat;
  readonly restartCommand?: readonly string[];
  readonly stopCommand?: readonly string[];
  readonly listen: string;
  readonly healthListen?: string;
  readonly metricsListen?: string;
  readonly stateDir: string;
  readonly tokenMode: TokenMode;
  readonly caFile?: string;
  readonly unverified: Unverified;
  readonly onRemove: OnRemove;
  readonly debounceMs: number;
  readonly removeGraceMs: number;
  readonly checkTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly restartTimeoutMs: number;
  readonly minUptimeMs: number;
  readonly rescanMs: number;
  readonly recheckMs: number;
  /** The agent's /metrics; undefined when reading it is off. */
  readonly agentMetricsUrl: string | undefined;
  readonly deliveryTimeoutMs: number;
  /** External mode: how to find the running agent to verify it (a pod's: to restart it). */
  readonly agentLocation?: AgentLocation;
  /** --flags-format yaml: the operator's agent config, kept under the managed keys. */
  readonly agentConfigBase?: string;
  /** --agent-process: how long the kubelet may take to start the agent again. */
  readonly restartWaitMs: number;
  /** --relay: the agent talks to a local relay, which carries the store. */
  readonly relay?: RelayConfig;
  readonly logLevel: string;
  readonly logFormat: LogFormat;
  readonly baseArgs: readonly string[];
}

export interface RelayConfig {
  readonly address: RelayAddress;
  /** The socket's group (name or number): the socket is then 0660, else 0600. */
  readonly group?: string;
  readonly drainTimeoutMs: number;
}

/**
 * --relay: supervise mode starts the agent on it; external mode means the agent runs elsewhere,
 * its flags fixed at the relay's address, so there are no flags to write and nothing to restart.
 */
function relayConfig(options: Options, mode: "supervise" | "external"): RelayConfig | undefined {
  const text = options.optionalString("relay");
  const group = options.optionalString("relay-group");
  if (text === undefined) {
    if (group !== undefined) throw new UsageError("--relay-group is for --relay");
    return undefined;
  }
  let address: RelayAddress;
  try {
    address = parseRelayAddress(text);
  } catch (err) {
    if (err instanceof RelayAddressError) throw new UsageError(`--relay ${err.message}`);
    throw err;
  }
  if (group !== undefined && !("path" in address))
    throw new UsageError("--relay-group is for a unix socket relay (--relay unix:/path)");
  const external = [
    "flags-file",
    "restart-command",
    "stop-command",
    "agent-pidfile",
    "agent-unit",
    "agent-process",
    "agent-config-base",
  ].filter((name) => options.optionalString(name) !== undefined);
  if (external.length > 0)
    throw new UsageError(
      `--relay changes the store without touching the agent: --${external[0]} has nothing to do (${mode} mode with --relay writes no flags and restarts nothing)`,
    );
  return {
    address,
    ...(group !== undefined ? { group } : {}),
    drainTimeoutMs: options.count("relay-drain-timeout-ms"),
  };
}

/** `host:port` (port 0 picks one) or `unix:/absolute/path`. */
export function validateListen(option: string, value: string): string {
  if (value.startsWith("unix:")) {
    if (value.length > "unix:/".length && value[5] === "/") return value;
    throw new UsageError(`--${option} ${JSON.stringify(value)}: write unix:/absolute/path`);
  }
  const { host, port } = splitHostPort(value);
  if (host === "" || !/^\d+$/.test(port) || Number(port) > 65535) {
    throw new UsageError(
      `--${option} ${JSON.stringify(value)}: write host:port (e.g. 127.0.0.1:7072) or unix:/path`,
    );
  }
  return value;
}

function command(option: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  try {
    return splitCommand(text);
  } catch (err) {
    if (err instanceof CommandSyntaxError) throw new UsageError(`--${option}: ${err.message}`);
    throw err;
  }
}

/** --agent-metrics-url: "off", an http:// URL, or (unset) from the agent's --http-address. */
function metricsUrl(value: string | undefined, baseArgs: readonly string[]): string | undefined {
  if (value === "off") return undefined;
  if (value === undefined) return metricsUrlFromArgs(baseArgs);
  if (!/^http:\/\/[^/\s]+/.test(value))
    throw new UsageError(
      `--agent-metrics-url ${JSON.stringify(value)}: write http://host:port/metrics or off`,
    );
  return value;
}

function positive(option: string, value: number): number {
  if (value <= 0) throw new UsageError(`--${option} must be more than 0`);
  return value;
}

export function runConfig(options: Options, isTty: boolean): RunConfig {
  const mode = options.choice<"supervise" | "external">("mode");
  const relay = relayConfig(options, mode);
  const onRemove = options.choice<OnRemove>("on-remove");
  const flagsFile = options.optionalString("flags-file");
  const restartCommand = command("restart-command", options.optionalString("restart-command"));
  const stopCommand = command("stop-command", options.optionalString("stop-command"));
  if (mode === "external" && flagsFile === undefined && relay === undefined) {
    throw new UsageError(
      "--mode external needs --flags-file (where the rendered flags are written), or --relay (the agent runs elsewhere, pointed at the relay)",
    );
  }
  if (
    mode === "external" &&
    relay === undefined &&
    onRemove === "stop" &&
    stopCommand === undefined &&
    options.optionalString("agent-process") === undefined
  ) {
    throw new UsageError(
      "--mode external with --on-remove stop needs --stop-command (or use --on-remove keep)",
    );
  }
  if (mode === "supervise" && (flagsFile || restartCommand || stopCommand)) {
    throw new UsageError(
      "--flags-file, --restart-command and --stop-command are for --mode external",
    );
  }
  const pidfile = options.optionalString("agent-pidfile");
  const unit = options.optionalString("agent-unit");
  const agentProcess = options.optionalString("agent-process");
  const flagsFormat = options.choice<FlagsFormat>("flags-format");
  if ((pidfile || unit || agentProcess) && mode !== "external")
    throw new UsageError(
      "--agent-pidfile, --agent-unit and --agent-process are for --mode external",
    );
  if ([pidfile, unit, agentProcess].filter(Boolean).length > 1)
    throw new UsageError("give only one of --agent-pidfile, --agent-unit and --agent-process");
  if (agentProcess !== undefined) {
    if (restartCommand || stopCommand)
      throw new UsageError(
        "--agent-process restarts the agent itself: give no --restart-command or --stop-command",
      );
    if (onRemove === "stop")
      throw new UsageError(
        "--agent-process cannot stop the agent for good (the kubelet starts it again): use --on-remove keep",
      );
    if (flagsFormat !== "yaml")
      throw new UsageError(
        "--agent-process needs --flags-format yaml: the agent reads the file as its --config-path",
      );
    if (agentProcess.includes("/") || agentProcess.trim() === "")
      throw new UsageError(
        `--agent-process ${JSON.stringify(agentProcess)}: give the binary's name, e.g. parca-agent`,
      );
  }
  const configBase = options.optionalString("agent-config-base");
  if (configBase !== undefined && flagsFormat !== "yaml")
    throw new UsageError("--agent-config-base is for --flags-format yaml");
  if (unit !== undefined && !UNIT_NAME.test(unit))
    throw new UsageError(`--agent-unit ${JSON.stringify(unit)} is not a systemd unit name`);
  const agentLocation: AgentLocation | undefined = pidfile
    ? { kind: "pidfile", path: resolve(pidfile) }
    : unit
      ? { kind: "unit", name: unit }
      : agentProcess
        ? { kind: "process", spec: { name: agentProcess, flagsFile: resolve(flagsFile ?? "") } }
        : undefined;
  const relations = options.strings("relation");
  if (relations.length === 0)
    throw new UsageError("run needs at least one --relation PATH (or PARCA_SIDECAR_RELATION)");
  const healthListen = options.optionalString("health-listen");
  const metricsListen = options.optionalString("metrics-listen");
  const caFile = validateCaFile(options.optionalString("ca-file"));
  const agentVersion = options.optionalString("agent-version");
  if (flagsFormat === "yaml") refuseYamlBefore(agentVersion);
  return {
    relations: relations.map((p) => resolve(p)),
    agentPath: options.string("agent"),
    ...(agentVersion ? { agentVersion } : {}),
    mode,
    ...(flagsFile ? { flagsFile: resolve(flagsFile) } : {}),
    flagsFormat,
    ...(configBase ? { agentConfigBase: resolve(configBase) } : {}),
    restartWaitMs: positive("restart-wait-ms", options.count("restart-wait-ms")),
    ...(restartCommand ? { restartCommand } : {}),
    ...(stopCommand ? { stopCommand } : {}),
    listen: validateListen("listen", options.string("listen")),
    ...(healthListen ? { healthListen: validateListen("health-listen", healthListen) } : {}),
    ...(metricsListen ? { metricsListen: validateListen("metrics-listen", metricsListen) } : {}),
    stateDir: resolve(options.string("state-dir")),
    tokenMode: options.choice<TokenMode>("token-mode"),
    ...(caFile ? { caFile } : {}),
    unverified: options.choice<Unverified>("unverified"),
    onRemove,
    debounceMs: options.count("debounce-ms"),
    removeGraceMs: options.count("remove-grace-ms"),
    checkTimeoutMs: positive("check-timeout-ms", options.count("check-timeout-ms")),
    stopTimeoutMs: options.count("stop-timeout-ms"),
    restartTimeoutMs: options.count("restart-timeout-ms"),
    minUptimeMs: options.count("min-uptime-ms"),
    rescanMs: options.count("rescan-ms"),
    recheckMs: options.count("recheck-ms"),
    agentMetricsUrl: metricsUrl(options.optionalString("agent-metrics-url"), options.baseArgs),
    deliveryTimeoutMs: positive("delivery-timeout-ms", options.count("delivery-timeout-ms")),
    ...(agentLocation ? { agentLocation } : {}),
    ...(relay ? { relay } : {}),
    logLevel: options.choice<(typeof LOG_LEVELS)[number]>("log-level"),
    logFormat: options.choice<LogFormat>("log-format", isTty ? "pretty" : "json"),
    baseArgs: options.baseArgs,
  };
}

/** Agents before v0.41.1 read --config-path only for relabel_configs and ignore flag keys. */
const YAML_FLAGS_SINCE = [0, 41, 1] as const;

function refuseYamlBefore(agentVersion: string | undefined): void {
  const parsed = parseVersion(agentVersion);
  if (parsed && olderThan(parsed, YAML_FLAGS_SINCE)) {
    throw new UsageError(
      `--flags-format yaml needs parca-agent v0.41.1 or later: --agent-version ${agentVersion} reads its --config-path only for relabel_configs and would start with no store (use --flags-format args or env, or upgrade the agent)`,
    );
  }
}
