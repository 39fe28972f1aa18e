import { existsSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { serviceDefinition } from "../api/service-definition.js";
import {
  type GetStatusResponse,
  type PauseResponse,
  type ResumeResponse,
  SidecarService,
  type WatchStatusResponse,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { DEFAULT_LISTEN } from "./option-table.js";
import type { Options } from "./options.js";
import { validateListen } from "./run-config.js";

/** Where the shipped systemd unit serves the API (deploy/systemd). */
const UNIT_SOCKET = "unix:/run/parca-agent-sidecar/api.sock";
const CALL_TIMEOUT_MS = 5000;

type Unary<R> = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response: R) => void,
) => void;

/** The slice of the generic grpc-js client the CLI calls. */
export interface SidecarClient extends grpc.Client {
  getStatus: Unary<GetStatusResponse>;
  pause: Unary<PauseResponse>;
  resume: Unary<ResumeResponse>;
  watchStatus(request: unknown): grpc.ClientReadableStream<WatchStatusResponse>;
}

export function sidecarClient(address: string): SidecarClient {
  const Ctor = grpc.makeGenericClientConstructor(
    serviceDefinition(SidecarService),
    "SidecarService",
  );
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as SidecarClient;
}

/**
 * The addresses to ask, in order: --address, else PARCA_SIDECAR_LISTEN, else the default
 * listen address and — when it exists — the shipped unit's socket.
 */
export function sidecarAddresses(options: Options, env: NodeJS.ProcessEnv): string[] {
  const given = options.optionalString("address") ?? (env.PARCA_SIDECAR_LISTEN || undefined);
  if (given !== undefined) return [validateListen("address", given)];
  const socket = UNIT_SOCKET.slice("unix:".length);
  return existsSync(socket) ? [DEFAULT_LISTEN, UNIT_SOCKET] : [DEFAULT_LISTEN];
}

/** One unary call, rejecting with the gRPC error. */
function call<R>(c: SidecarClient, method: Unary<R>, request: unknown): Promise<R> {
  return new Promise<R>((resolve, reject) =>
    method.call(c, request, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/** Whether a call failed because nothing answered there (so the next address is worth a try). */
function noAnswer(err: unknown): boolean {
  const code = (err as grpc.ServiceError).code;
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
}

/** A gRPC error as one line, without grpc-js's resolver notes. */
export function errorLine(err: unknown): string {
  const e = err as grpc.ServiceError;
  const text = e.details || e.message || String(err);
  return text
    .replace(/\s*Resolution note:.*$/s, "")
    .replace(/^No connection established\. Last error: (Error: )?/, "")
    .replace(/\.$/, "");
}

/** What to print when no sidecar answered at any of `tried`. */
function noAnswerMessage(
  command: string,
  tried: readonly { address: string; error: string }[],
): string {
  const where = tried.map((t) => `${t.address} (${t.error})`).join(", nor at ");
  return [
    `parca-agent-sidecar ${command}: no answer from a sidecar at ${where}`,
    `hint: is "parca-agent-sidecar run" running? Point at its --listen address with --address ADDR or PARCA_SIDECAR_LISTEN=ADDR (the shipped systemd unit listens on ${UNIT_SOCKET})`,
  ].join("\n");
}

/**
 * Calls `method` on the first sidecar that answers; throws NoSidecar with the message to print
 * when none did. Other errors (the sidecar answered with one) are thrown as they are.
 */
export async function callFirst<R>(
  command: string,
  addresses: readonly string[],
  method: (c: SidecarClient) => Unary<R>,
  request: unknown,
): Promise<{ address: string; response: R }> {
  const tried: { address: string; error: string }[] = [];
  for (const address of addresses) {
    const c = sidecarClient(address);
    try {
      return { address, response: await call(c, method(c), request) };
    } catch (err) {
      if (!noAnswer(err)) throw err;
      tried.push({ address, error: errorLine(err) });
    } finally {
      c.close();
    }
  }
  throw new NoSidecar(noAnswerMessage(command, tried));
}

export class NoSidecar extends Error {
  override readonly name = "NoSidecar";
}
