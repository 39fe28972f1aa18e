import { type ChildProcess, spawn } from "node:child_process";
import { create, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { serviceDefinition } from "../../src/api/service-definition.js";
import {
  Health,
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  CheckStoreRequestSchema,
  type CheckStoreResponse,
  GetStatusRequestSchema,
  type GetStatusResponse,
  ReloadRequestSchema,
  type ReloadResponse,
  SidecarService,
  type Status,
  WatchStatusRequestSchema,
  type WatchStatusResponse,
} from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { sidecarCommand } from "./cli.js";
import { waitFor } from "./procs.js";

type Unary<Res> = (req: unknown, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;

interface Client extends grpc.Client {
  getStatus: Unary<GetStatusResponse>;
  checkStore: Unary<CheckStoreResponse>;
  reload: Unary<ReloadResponse>;
  watchStatus(req: unknown): grpc.ClientReadableStream<WatchStatusResponse>;
}

interface HealthClient extends grpc.Client {
  check(
    req: unknown,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: HealthCheckResponse) => void,
  ): void;
}

function call<Res>(
  fn: Unary<Res>,
  client: grpc.Client,
  req: MessageShape<never> | object,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn.call(client, req, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/**
 * grpc.health.v1 Check on `address`, with a client of its own (so no reconnect back-off carries
 * over from an earlier attempt): the status, or the gRPC code's name when the call fails.
 */
export async function healthCheck(
  address: string,
  service: string,
  deadlineMs = 5_000,
): Promise<HealthCheckResponse_ServingStatus | string> {
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(Health), "Health");
  const client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
  try {
    const res = await new Promise<HealthCheckResponse>((resolve, reject) =>
      client.check(
        create(HealthCheckRequestSchema, { service }),
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    return res.status;
  } catch (err) {
    return grpc.status[(err as grpc.ServiceError).code] ?? "ERROR";
  } finally {
    client.close();
  }
}

/**
 * The real `run` process (dist/cli.js, or PARCA_SIDECAR_BIN's binary) for end-to-end tests: every byte it prints is kept, its
 * JSON log lines parsed, and its API reached over gRPC on the port it reports.
 */
export class Sidecar {
  readonly output: string[] = [];
  readonly statuses: Status[] = [];
  address = "";
  healthAddress = "";
  metricsAddress = "";
  private client: Client | undefined;
  private watch: grpc.ClientReadableStream<WatchStatusResponse> | undefined;
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => this.output.push(chunk.toString());
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.exited = new Promise((resolve) =>
      child.once("exit", (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  /** The `run` process, just spawned: nothing waited for (see `start`). */
  static launch(
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
    wrap: readonly string[] = [],
  ): Sidecar {
    const command = [
      ...wrap,
      ...sidecarCommand(),
      "run",
      "--listen",
      "127.0.0.1:0",
      "--log-format",
      "json",
      ...args,
    ];
    const child = spawn(command[0] as string, command.slice(1), {
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new Sidecar(child);
  }

  static async start(
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
    options: {
      watchStatus?: boolean;
      /** A command the sidecar runs under, which execs its arguments (same pid). */
      wrap?: readonly string[];
    } = {},
  ): Promise<Sidecar> {
    const sidecar = Sidecar.launch(args, env, options.wrap);
    // "started": the API listens, the watches are set and the first reconcile has run.
    await waitFor("the sidecar to start", () => {
      if (sidecar.exitCode !== null) {
        throw new Error(`sidecar exited ${sidecar.exitCode}: ${sidecar.text()}`);
      }
      return sidecar.logs().some((l) => l.event === "started");
    }).catch((err: Error) => {
      sidecar.child.kill("SIGKILL");
      throw new Error(`${err.message}; it printed: ${sidecar.text().slice(-2000)}`);
    });
    const listening = sidecar.logs().find((l) => l.event === "listening") ?? {};
    sidecar.address = String(listening.address);
    sidecar.healthAddress = String(listening.healthAddress ?? "");
    sidecar.metricsAddress = String(listening.metricsAddress ?? "");
    const Ctor = grpc.makeGenericClientConstructor(
      serviceDefinition(SidecarService),
      "SidecarService",
    );
    sidecar.client = new Ctor(
      sidecar.address,
      grpc.credentials.createInsecure(),
    ) as unknown as Client;
    if (options.watchStatus !== false) {
      sidecar.watch = sidecar.client.watchStatus(create(WatchStatusRequestSchema));
      sidecar.watch.on(
        "data",
        (r: WatchStatusResponse) => r.status && sidecar.statuses.push(r.status),
      );
      sidecar.watch.on("error", () => undefined);
    }
    return sidecar;
  }

  text(): string {
    return this.output.join("");
  }

  /** The JSON log lines so far. */
  logs(): Record<string, unknown>[] {
    return this.text()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  }

  async status(): Promise<Status> {
    const res = await call(
      (this.client as Client).getStatus,
      this.client as Client,
      create(GetStatusRequestSchema),
    );
    return res.status as Status;
  }

  /** Waits until GetStatus satisfies the predicate; returns that status. */
  waitStatus(what: string, predicate: (s: Status) => boolean, timeoutMs = 30_000): Promise<Status> {
    return waitFor(
      what,
      async () => {
        const s = await this.status();
        return predicate(s) ? s : undefined;
      },
      timeoutMs,
    ).catch(async (err: Error) => {
      const last = await this.status().catch(() => undefined);
      throw new Error(`${err.message}; last message: ${last?.message}`);
    });
  }

  checkStore(): Promise<CheckStoreResponse> {
    return call(
      (this.client as Client).checkStore,
      this.client as Client,
      create(CheckStoreRequestSchema),
    );
  }

  reload(): Promise<ReloadResponse> {
    return call((this.client as Client).reload, this.client as Client, create(ReloadRequestSchema));
  }

  /** grpc.health.v1 Check on an address (the main one by default). */
  health(
    service: string,
    address = this.address,
  ): Promise<HealthCheckResponse_ServingStatus | string> {
    return healthCheck(address, service);
  }

  async waitReady(ready: boolean): Promise<void> {
    const want = ready
      ? HealthCheckResponse_ServingStatus.SERVING
      : HealthCheckResponse_ServingStatus.NOT_SERVING;
    await waitFor(`readiness ${ready}`, async () => (await this.health("readiness")) === want);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGTERM, then wait for a clean exit; SIGKILL if it hangs. */
  async stop(): Promise<number | null> {
    this.watch?.cancel();
    this.client?.close();
    if (this.exitCode === null) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exitCode;
  }

  /** Simulates a crash of the sidecar itself. */
  async kill(): Promise<void> {
    this.watch?.cancel();
    this.client?.close();
    this.child.kill("SIGKILL");
    await this.exited;
  }
}
