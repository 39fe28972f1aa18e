import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { toJson } from "../api/messages.js";
import {
  AgentState,
  type CheckResult,
  DeliveryState,
  GetStatusRequestSchema,
  type GetStatusResponse,
  Phase,
  type Status,
  StatusSchema,
  WatchStatusRequestSchema,
  type WatchStatusResponse,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { callFirst, errorLine, NoSidecar, sidecarAddresses, sidecarClient } from "./client.js";
import type { Io } from "./io.js";
import type { Options } from "./options.js";

function checkLine(check: CheckResult | undefined): string {
  if (!check) return "not run";
  const stages = check.stages.map((s) => `${s.name}${s.ok ? "" : "✗"}`).join(" → ");
  if (check.ok) return `ok in ${check.durationMs.toFixed(1)} ms (${stages})`;
  return `${check.diagnosis?.code ?? "failed"}: ${check.diagnosis?.message ?? ""} — ${check.diagnosis?.hint ?? ""}`;
}

function deliveryLine(d: NonNullable<Status["delivery"]>): string {
  const state = DeliveryState[d.state] ?? "UNSPECIFIED";
  const counts = `${d.okWrites} ok, ${d.failedWrites} failed${d.lastFailureCode ? ` (${d.lastFailureCode})` : ""}`;
  const last = d.lastOkAt ? `, last ok ${timestampDate(d.lastOkAt).toISOString()}` : "";
  const problem = d.problem ? ` — ${d.problem.code}: ${d.problem.message}` : "";
  const source = d.relay
    ? ` as the relay ${d.relay} saw them`
    : d.metricsUrl
      ? ` from ${d.metricsUrl}`
      : ", agent metrics off";
  return `${state}, ${counts}${last}${source}${problem}`;
}

/** "3m 5s", "2h 4m", "1d 3h": how long, to the two largest units. */
export function duration(ms: number): string {
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ];
  const parts: string[] = [];
  let rest = Math.max(0, ms);
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${name}`);
    if (parts.length === 2) break;
  }
  return parts.length ? parts.join(" ") : "0s";
}

const plural = (n: number | bigint, one: string, many = `${one}s`) =>
  `${n} ${Number(n) === 1 ? one : many}`;

/** The human summary `status` prints; `now` for the durations. */
export function summary(s: Status, now = new Date()): string {
  const store = (c: Status["desired"]) =>
    c
      ? `${c.address} (${c.insecure ? "plaintext" : "TLS"}${c.tokenSet ? ", token set" : ""})`
      : "none";
  const since = (t: Status["phaseSince"]) =>
    t ? ` for ${duration(now.getTime() - timestampDate(t).getTime())}` : "";
  const agent = s.agent;
  const restarts = agent
    ? `${plural(agent.restarts, "restart")} (${plural(agent.crashes, "crash", "crashes")})`
    : "";
  const lines = [
    `phase:    ${Phase[s.phase]}${since(s.phaseSince)}${s.paused ? " — PAUSED" : ""}`,
    `ready:    ${s.ready ? "yes" : "no"}`,
    `message:  ${s.message}`,
    `desired:  ${store(s.desired)}`,
    `applied:  ${store(s.applied)}`,
    `agent:    ${agent ? AgentState[agent.state] : "?"}${agent?.pid ? ` pid ${agent.pid}` : ""}, ${restarts}${agent?.startedAt ? `, started ${timestampDate(agent.startedAt).toISOString()}` : ""}`,
  ];
  if (agent?.lastExit) {
    const e = agent.lastExit;
    const how = e.planned ? "last stop" : "last exit";
    lines.push(
      `${how}: code ${e.code}${e.signal ? ` (${e.signal})` : ""}${e.planned ? ", by the sidecar" : ""}${e.stderrTail.length ? `: ${e.stderrTail.at(-1)}` : ""}`,
    );
  }
  if (agent?.problem) lines.push(`problem:  ${agent.problem.code}: ${agent.problem.message}`);
  if (s.delivery) lines.push(`delivery: ${deliveryLine(s.delivery)}`);
  if (s.rejected) lines.push(`rejected: ${s.rejected.code}: ${s.rejected.message}`);
  // A check is shown only while it is about the config the relation data asks for now.
  const check = s.lastCheck;
  const current =
    check &&
    s.desired &&
    check.address === s.desired.address &&
    check.insecure === s.desired.insecure;
  lines.push(`check:    ${current ? checkLine(check) : "none for the desired config"}`);
  if (s.appliedCheck) lines.push(`recheck:  ${checkLine(s.appliedCheck)}`);
  for (const src of s.sources) {
    lines.push(
      `source:   ${src.path} — ${src.error ? `${src.error.code}: ${src.error.message}` : src.configured ? "configured" : "not configured"}`,
    );
    for (const w of src.warnings) lines.push(`          warning ${w.code}: ${w.message}`);
  }
  if (s.agentArgs.length) lines.push(`args:     ${s.agentArgs.join(" ")}`);
  const up = s.sidecarStartedAt
    ? `, up ${duration(now.getTime() - timestampDate(s.sidecarStartedAt).getTime())}`
    : "";
  if (s.version) lines.push(`sidecar:  ${s.version}${up}`);
  return lines.join("\n");
}

/** `status`: asks a running sidecar; exit 1 when none answers. */
export async function statusCommand(options: Options, io: Io): Promise<number> {
  const addresses = sidecarAddresses(options, io.env);
  const json = options.flag("json");
  const print = (status: Status) =>
    io.out(
      json
        ? toJson(StatusSchema, status)
        : options.flag("watch")
          ? `${new Date().toISOString()} ${Phase[status.phase]}${status.paused ? " PAUSED" : ""}${status.delivery ? ` delivery ${DeliveryState[status.delivery.state]}` : ""} ${status.message}`
          : summary(status),
    );
  let answered: { address: string; response: GetStatusResponse };
  try {
    answered = await callFirst(
      "status",
      addresses,
      (c) => c.getStatus,
      create(GetStatusRequestSchema),
    );
  } catch (err) {
    io.err(
      err instanceof NoSidecar ? err.message : `parca-agent-sidecar status: ${errorLine(err)}`,
    );
    return 1;
  }
  if (!options.flag("watch")) {
    print(answered.response.status ?? create(StatusSchema));
    return 0;
  }
  const c = sidecarClient(answered.address);
  try {
    await new Promise<void>((resolve, reject) => {
      const stream = c.watchStatus(create(WatchStatusRequestSchema));
      stream.on("data", (r: WatchStatusResponse) => print(r.status ?? create(StatusSchema)));
      stream.on("error", (err: grpc.ServiceError) =>
        err.code === grpc.status.CANCELLED ? resolve() : reject(err),
      );
      stream.on("end", () => resolve());
      const stop = () => stream.cancel();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    return 0;
  } catch (err) {
    io.err(
      `parca-agent-sidecar status: the sidecar at ${answered.address} stopped answering: ${errorLine(err)}`,
    );
    return 1;
  } finally {
    c.close();
  }
}
