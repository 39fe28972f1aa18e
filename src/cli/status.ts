import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { serviceDefinition } from "../api/service-definition.js";
import {
  AgentState,
  type CheckResult,
  DeliveryState,
  GetStatusRequestSchema,
  type GetStatusResponse,
  Phase,
  SidecarService,
  type Status,
  StatusSchema,
  WatchStatusRequestSchema,
  type WatchStatusResponse,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { toJson } from "../messages.js";
import type { Io } from "./io.js";
import type { Options } from "./options.js";
import { validateListen } from "./run-config.js";

const CONNECT_TIMEOUT_MS = 5000;

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
  return `${state}, ${counts}${last}${d.metricsUrl ? ` from ${d.metricsUrl}` : ", agent metrics off"}${problem}`;
}

/** The human summary `status` prints. */
export function summary(s: Status): string {
  const store = (c: Status["desired"]) =>
    c
      ? `${c.address} (${c.insecure ? "plaintext" : "TLS"}${c.tokenSet ? ", token set" : ""})`
      : "none";
  const agent = s.agent;
  const lines = [
    `phase:    ${Phase[s.phase]}`,
    `message:  ${s.message}`,
    `desired:  ${store(s.desired)}`,
    `applied:  ${store(s.applied)}`,
    `agent:    ${agent ? AgentState[agent.state] : "?"}${agent?.pid ? ` pid ${agent.pid}` : ""}, ${agent?.restarts ?? 0} restarts${agent?.startedAt ? `, started ${timestampDate(agent.startedAt).toISOString()}` : ""}`,
  ];
  if (agent?.lastExit) {
    const e = agent.lastExit;
    lines.push(
      `last exit: code ${e.code}${e.signal ? ` (${e.signal})` : ""}${e.stderrTail.length ? `: ${e.stderrTail.at(-1)}` : ""}`,
    );
  }
  if (agent?.problem) lines.push(`problem:  ${agent.problem.code}: ${agent.problem.message}`);
  if (s.delivery) lines.push(`delivery: ${deliveryLine(s.delivery)}`);
  if (s.rejected) lines.push(`rejected: ${s.rejected.code}: ${s.rejected.message}`);
  lines.push(`check:    ${checkLine(s.lastCheck)}`);
  if (s.appliedCheck) lines.push(`recheck:  ${checkLine(s.appliedCheck)}`);
  for (const src of s.sources) {
    lines.push(
      `source:   ${src.path} — ${src.error ? `${src.error.code}: ${src.error.message}` : src.configured ? "configured" : "not configured"}`,
    );
    for (const w of src.warnings) lines.push(`          warning ${w.code}: ${w.message}`);
  }
  if (s.agentArgs.length) lines.push(`args:     ${s.agentArgs.join(" ")}`);
  return lines.join("\n");
}

/** The slice of the generic grpc-js client this command calls. */
interface SidecarClient extends grpc.Client {
  getStatus(
    request: unknown,
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, response: GetStatusResponse) => void,
  ): void;
  watchStatus(request: unknown): grpc.ClientReadableStream<WatchStatusResponse>;
}

function client(address: string): SidecarClient {
  const Ctor = grpc.makeGenericClientConstructor(
    serviceDefinition(SidecarService),
    "SidecarService",
  );
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as SidecarClient;
}

/** `status`: asks a running sidecar; exit 1 when it does not answer. */
export async function statusCommand(options: Options, io: Io): Promise<number> {
  const address = validateListen(
    "address",
    options.string("address", io.env.PARCA_SIDECAR_LISTEN || undefined),
  );
  const json = options.flag("json");
  const c = client(address);
  const print = (status: Status) =>
    io.out(
      json
        ? toJson(StatusSchema, status)
        : options.flag("watch")
          ? `${new Date().toISOString()} ${Phase[status.phase]}${status.delivery ? ` delivery ${DeliveryState[status.delivery.state]}` : ""} ${status.message}`
          : summary(status),
    );
  try {
    if (!options.flag("watch")) {
      const response = await new Promise<GetStatusResponse>((resolve, reject) =>
        c.getStatus(
          create(GetStatusRequestSchema),
          { deadline: Date.now() + CONNECT_TIMEOUT_MS },
          (err, res) => (err ? reject(err) : resolve(res)),
        ),
      );
      print(response.status ?? create(StatusSchema));
      return 0;
    }
    await new Promise<void>((resolve, reject) => {
      const stream = c.watchStatus(create(WatchStatusRequestSchema));
      const timer = setTimeout(() => stream.cancel(), CONNECT_TIMEOUT_MS);
      stream.on("data", (r: WatchStatusResponse) => {
        clearTimeout(timer);
        print(r.status ?? create(StatusSchema));
      });
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
      `parca-agent-sidecar status: no answer from the sidecar at ${address}: ${(err as grpc.ServiceError).details || (err as Error).message}`,
    );
    return 1;
  } finally {
    c.close();
  }
}
