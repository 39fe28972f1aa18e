import { create, equals } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { joinHostPort, splitHostPort } from "../core/host-port.js";
import {
  Health,
  type HealthCheckRequest,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Serving,
} from "../gen/grpc/health/v1/health_pb.js";
import {
  CheckStoreResponseSchema,
  GetStatusResponseSchema,
  type PauseRequest,
  PauseResponseSchema,
  ReloadResponseSchema,
  ResumeResponseSchema,
  SidecarService,
  type Status,
  StatusSchema,
  WatchStatusResponseSchema,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import type { CheckResult } from "../store/check.js";
import { checkResultMessage } from "./messages.js";
import { serviceDefinition } from "./service-definition.js";

/** What the API serves; the loop provides it. */
export interface ApiSource {
  status(): Status;
  /** The loop runs (health `""` and `liveness`). */
  alive(): boolean;
  /** Health `readiness`. */
  ready(): boolean;
  /** Health `startup`: the agent may start (the gate an agent container waits on). */
  started(): boolean;
  onChange(listener: () => void): () => void;
  checkStore(): Promise<CheckResult>;
  reload(): Promise<void>;
  /** Freezes the agent's config until resume (Pause); kept across restarts. */
  pause(reason: string): Promise<void>;
  resume(): Promise<void>;
}

export interface Listening {
  /** The address bound, with the real port when 0 was asked for. */
  readonly address: string;
  close(): Promise<void>;
}

function servingOf(source: ApiSource, service: string): Serving {
  if (service === "" || service === "liveness")
    return source.alive() ? Serving.SERVING : Serving.NOT_SERVING;
  if (service === "readiness") return source.ready() ? Serving.SERVING : Serving.NOT_SERVING;
  if (service === "startup") return source.started() ? Serving.SERVING : Serving.NOT_SERVING;
  return Serving.SERVICE_UNKNOWN;
}

/** Writes `read()` now and after every change of the source that alters it, until the call ends. */
function streamChanges<T>(
  call: grpc.ServerWritableStream<unknown, unknown>,
  source: ApiSource,
  read: () => T,
  same: (a: T, b: T) => boolean,
  message: (value: T) => unknown,
): void {
  let last: { value: T } | undefined;
  const send = () => {
    const value = read();
    if (last && same(last.value, value)) return;
    last = { value };
    call.write(message(value));
  };
  const unsubscribe = source.onChange(send);
  call.on("cancelled", unsubscribe);
  call.on("close", unsubscribe);
  send();
}

function healthImplementation(source: ApiSource): grpc.UntypedServiceImplementation {
  return {
    check(
      call: grpc.ServerUnaryCall<HealthCheckRequest, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      const status = servingOf(source, call.request.service);
      if (status === Serving.SERVICE_UNKNOWN) {
        callback({
          code: grpc.status.NOT_FOUND,
          details: `unknown service ${JSON.stringify(call.request.service)}`,
        });
        return;
      }
      callback(null, create(HealthCheckResponseSchema, { status }));
    },
    watch(call: grpc.ServerWritableStream<HealthCheckRequest, unknown>) {
      streamChanges(
        call,
        source,
        () => servingOf(source, call.request.service),
        (a, b) => a === b,
        (status) => create(HealthCheckResponseSchema, { status }),
      );
    },
  };
}

function sidecarImplementation(source: ApiSource): grpc.UntypedServiceImplementation {
  /** A unary call that does `work`, then answers with the status (Reload, Pause, Resume). */
  const thenStatus =
    <Req>(
      schema:
        | typeof ReloadResponseSchema
        | typeof PauseResponseSchema
        | typeof ResumeResponseSchema,
      work: (call: grpc.ServerUnaryCall<Req, unknown>) => Promise<void>,
    ) =>
    (call: grpc.ServerUnaryCall<Req, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      work(call).then(
        () => callback(null, create(schema, { status: source.status() })),
        (err: unknown) => callback({ code: grpc.status.INTERNAL, details: (err as Error).message }),
      );
    };
  return {
    getStatus(
      _call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      callback(null, create(GetStatusResponseSchema, { status: source.status() }));
    },
    watchStatus(call: grpc.ServerWritableStream<unknown, unknown>) {
      streamChanges(
        call,
        source,
        () => source.status(),
        (a, b) => equals(StatusSchema, a, b),
        (status) => create(WatchStatusResponseSchema, { status }),
      );
    },
    checkStore(
      _call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      source.checkStore().then(
        (result) =>
          callback(null, create(CheckStoreResponseSchema, { result: checkResultMessage(result) })),
        (err: unknown) => callback({ code: grpc.status.INTERNAL, details: (err as Error).message }),
      );
    },
    reload: thenStatus(ReloadResponseSchema, () => source.reload()),
    pause: thenStatus(PauseResponseSchema, (call: grpc.ServerUnaryCall<PauseRequest, unknown>) =>
      source.pause(call.request.reason.trim().slice(0, 200)),
    ),
    resume: thenStatus(ResumeResponseSchema, () => source.resume()),
  };
}

/** Binds a plaintext gRPC server on `host:port` or `unix:/path`. */
export async function serve(
  address: string,
  source: ApiSource,
  { healthOnly }: { readonly healthOnly: boolean },
): Promise<Listening> {
  const server = new grpc.Server();
  server.addService(serviceDefinition(Health), healthImplementation(source));
  if (!healthOnly)
    server.addService(serviceDefinition(SidecarService), sidecarImplementation(source));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const bound = address.startsWith("unix:")
    ? address
    : joinHostPort(splitHostPort(address).host, port);
  return {
    address: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Streams (WatchStatus) would hold a graceful shutdown open: end them after a moment.
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}
