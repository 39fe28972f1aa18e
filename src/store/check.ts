import { lookup } from "node:dns/promises";
import { connect as h2Connect } from "node:http2";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { errnoCode } from "../core/errors.js";
import type { Problem } from "../problem.js";
import { scrub } from "../secrets.js";
import { diagnose, StoreCheckError } from "./diagnosis.js";
import type { CheckOptions, CheckResult } from "./result.js";
import { callMetadata, health, writeArrow, writeStream } from "./rpcs.js";
import { Run } from "./run.js";
import type { Target } from "./target.js";
import { handshake } from "./tls-handshake.js";
import { agentWriteRpc, type WriteRpc } from "./version.js";

export type { CheckOptions, CheckResult, Stage } from "./result.js";
export { failedCheck } from "./result.js";

/**
 * Checks a store the way the agent will connect to it: dns → tcp → tls (unless insecure) →
 * health → the agent's write RPC (`write`: the Write stream; `arrow`: WriteArrow), all within
 * one budget, on one connection. Never throws; a failure is
 * the diagnosis of the lowest stage that failed.
 */
export async function checkStore(target: Target, options: CheckOptions): Promise<CheckResult> {
  const run = new Run(target, options);
  const writeRpc = agentWriteRpc(options.agentVersion, target.useV2Schema);
  let diagnosis: Problem | undefined;
  try {
    await stages(run, writeRpc.rpc);
  } catch (err) {
    diagnosis = toDiagnosis(run, err);
  } finally {
    run.close();
  }
  const clean = (p: Problem): Problem => ({
    ...p,
    message: scrub(p.message, target.tokens),
    hint: scrub(p.hint, target.tokens),
  });
  return {
    ok: diagnosis === undefined,
    address: target.address,
    insecure: target.insecure,
    stages: run.stages,
    ...(diagnosis ? { diagnosis: clean(diagnosis) } : {}),
    warnings: run.warnings.map(clean),
    durationMs: performance.now() - run.started,
    writeRpc,
  };
}

function toDiagnosis(run: Run, err: unknown): Problem {
  const context = {
    address: run.target.address,
    host: run.target.host,
    timeoutMs: run.options.timeoutMs,
    stage: run.stages.at(-1)?.name ?? "",
  };
  if (err instanceof StoreCheckError) {
    return diagnose(err.code, { ...context, ...(err.detail ? { detail: err.detail } : {}) });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return diagnose("UNKNOWN", { ...context, detail });
}

async function stages(run: Run, writeRpc: WriteRpc): Promise<void> {
  const { target } = run;
  const addresses = await run.stage("dns", () => resolve(target.host));
  const socket = await run.stage("tcp", () => connectAny(run, addresses, target.port));
  const transport = target.insecure ? socket : await run.stage("tls", () => handshake(run, socket));
  const session = run.hold(
    h2Connect(`${target.insecure ? "http" : "https"}://${target.address}`, {
      createConnection: () => transport,
    }),
  );
  // Each call reports its own failure; a TLS alert that comes after the handshake (TLS 1.3 sends
  // a rejected client certificate's alert then) is kept to name it.
  session.on("error", (err: unknown) => {
    run.transportError ??= err;
  });
  transport.on("error", (err: unknown) => {
    run.transportError ??= err;
  });
  const metadata = callMetadata(target);
  await run.stage("health", () => health(run, session, metadata));
  if (writeRpc === "Write") await run.stage("write", () => writeStream(run, session, metadata));
  else await run.stage("arrow", () => writeArrow(run, session, metadata));
}

async function resolve(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    const found = await lookup(host, { all: true, verbatim: true });
    if (found.length === 0) throw new StoreCheckError("DNS_FAILURE", "no addresses");
    return found.map((a) => a.address);
  } catch (err) {
    if (err instanceof StoreCheckError) throw err;
    throw new StoreCheckError("DNS_FAILURE", errnoCode(err) || undefined, { cause: err });
  }
}

/** Connects to the first address that accepts, in resolver order, as Go's dialer does. */
async function connectAny(run: Run, addresses: readonly string[], port: number): Promise<Socket> {
  let last: unknown;
  for (const ip of addresses) {
    try {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = run.hold(netConnect({ host: ip, port, noDelay: true }));
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      });
      run.ip = ip;
      return socket;
    } catch (err) {
      last = err;
    }
  }
  const code = errnoCode(last);
  if (code === "ETIMEDOUT") throw new StoreCheckError("CONNECT_TIMEOUT", code, { cause: last });
  throw new StoreCheckError("CONNECTION_REFUSED", code || undefined, { cause: last });
}
