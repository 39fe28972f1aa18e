import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { serviceDefinition } from "../../src/api/service-definition.js";
import {
  Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  ProfileStoreService,
  WriteArrowResponseSchema,
  WriteRawResponseSchema,
} from "../../src/gen/parca/profilestore/v1alpha1/profilestore_pb.js";
import type { Issued } from "./certs.js";

export type HealthMode = "SERVING" | "NOT_SERVING" | "missing";

export interface TestStoreOptions {
  /** Serve TLS with this certificate (grpc-js: TLS 1.3, ALPN h2). */
  readonly tls?: { readonly leaf: Issued; readonly clientCa?: Issued };
  /** Require `authorization: Bearer <token>` (any of these) on ProfileStoreService calls. */
  readonly token?: string | readonly string[];
  /** What a missing or wrong token gets. */
  readonly tokenDenied?: "UNAUTHENTICATED" | "PERMISSION_DENIED";
  readonly health?: HealthMode;
  /** false: no ProfileStoreService at all (another gRPC server). */
  readonly profileStore?: boolean;
  /**
   * false: WriteArrow unimplemented (a server older than v0.28); "forwarder": answered as a
   * scraper-only Parca v0.28 does, UNIMPLEMENTED "method WriteArrow not implemented".
   */
  readonly writeArrow?: boolean | "forwarder";
  /**
   * The Write stream: "parca" (default) refuses a stream closed without a message with
   * INVALID_ARGUMENT, as Parca does; "forwarder" answers OK; false leaves it unimplemented.
   */
  readonly writeStream?: "parca" | "forwarder" | false;
  /** Make WriteRaw and the Write stream fail with this gRPC status. */
  readonly writeRawStatus?: grpc.status;
  /**
   * Refuse every non-empty WriteArrow and every Write stream that sent a record (real writes)
   * with this gRPC status, while the check's probes pass: a store over its quota, a tenant disabled. `setWriteStatus` changes it later.
   */
  readonly writeStatus?: grpc.status;
  /** Port to bind; 0 picks one. */
  readonly port?: number;
}

export interface SeenCall {
  readonly path: string;
  readonly metadata: Record<string, string[]>;
}

/**
 * A real grpc-js server speaking the Parca store's protocol on 127.0.0.1: health, WriteRaw
 * (empty request → OK), the Write stream (closed without a message → INVALID_ARGUMENT) and
 * WriteArrow (empty buffer → INVALID_ARGUMENT), with switches for TLS, a required token,
 * NOT_SERVING and missing services.
 */
export class TestStore {
  readonly calls: SeenCall[] = [];
  private health: HealthMode;
  private held: Promise<void> | undefined;

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    options: TestStoreOptions,
  ) {
    this.health = options.health ?? "SERVING";
    this.writeStatus = options.writeStatus;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Non-empty WriteArrow requests and Write stream records accepted so far. */
  writes = 0;
  writeStatus: grpc.status | undefined;

  /** From now on, refuse real writes with `code` (OK: accept them again). */
  setWriteStatus(code: grpc.status): void {
    this.writeStatus = code;
  }

  setHealth(health: Exclude<HealthMode, "missing">): void {
    this.health = health;
  }

  /** Health checks get no answer until the returned function is called: a check held mid-way. */
  holdHealth(): () => void {
    let release = () => {};
    this.held = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.held = undefined;
      release();
    };
  }

  static async start(options: TestStoreOptions = {}): Promise<TestStore> {
    const server = new grpc.Server();
    let store: TestStore | undefined;
    const seen = (path: string, call: { metadata: grpc.Metadata }) => {
      const metadata: Record<string, string[]> = {};
      for (const key of Object.keys(call.metadata.getMap()))
        metadata[key] = call.metadata.get(key).map(String);
      store?.calls.push({ path, metadata });
    };
    if (options.health !== "missing") {
      server.addService(serviceDefinition(Health), {
        check: (
          call: grpc.ServerUnaryCall<unknown, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          seen("Health/Check", call);
          const answer = () => {
            const status =
              store?.health === "NOT_SERVING"
                ? HealthCheckResponse_ServingStatus.NOT_SERVING
                : HealthCheckResponse_ServingStatus.SERVING;
            callback(null, create(HealthCheckResponseSchema, { status }));
          };
          if (store?.held) void store.held.then(answer);
          else answer();
        },
        watch: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
      });
    }
    if (options.profileStore !== false) {
      const denied = (call: { metadata: grpc.Metadata }): grpc.ServiceError | null => {
        if (options.token === undefined) return null;
        const auth = call.metadata.get("authorization").map(String);
        const accepted = typeof options.token === "string" ? [options.token] : options.token;
        if (accepted.some((t) => auth.includes(`Bearer ${t}`))) return null;
        const code =
          options.tokenDenied === "PERMISSION_DENIED"
            ? grpc.status.PERMISSION_DENIED
            : grpc.status.UNAUTHENTICATED;
        return Object.assign(new Error(auth.length ? "invalid token" : "missing token"), {
          code,
          details: auth.length ? "invalid token" : "missing token",
          metadata: new grpc.Metadata(),
        });
      };
      const implementation: grpc.UntypedServiceImplementation = {
        writeRaw: (
          call: grpc.ServerUnaryCall<unknown, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          seen("WriteRaw", call);
          const error = denied(call);
          if (error) return callback(error);
          if (options.writeRawStatus !== undefined) {
            return callback({
              code: options.writeRawStatus,
              details: "store failure",
              name: "",
              message: "",
            });
          }
          callback(null, create(WriteRawResponseSchema));
        },
      };
      if (options.writeStream !== false) {
        implementation.write = (call: grpc.ServerDuplexStream<unknown, unknown>) => {
          seen("Write", call);
          const fail = (code: grpc.status, details: string) =>
            call.emit("error", { code, details, metadata: new grpc.Metadata() });
          const error = denied(call);
          if (error) return fail(error.code as grpc.status, error.details);
          if (options.writeRawStatus !== undefined)
            return fail(options.writeRawStatus, "store failure");
          let records = 0;
          call.on("data", () => {
            records++;
            // A real write refused at once: agents wait for each record's answer.
            const refused = store?.writeStatus;
            if (refused !== undefined && refused !== grpc.status.OK)
              fail(refused, "writes refused");
          });
          call.on("end", () => {
            if (records === 0 && options.writeStream !== "forwarder") {
              return fail(grpc.status.INVALID_ARGUMENT, "failed to receive request: EOF");
            }
            if (store) store.writes += records;
            call.end();
          });
        };
      }
      if (options.writeArrow !== false) {
        implementation.writeArrow = (
          call: grpc.ServerUnaryCall<{ ipcBuffer: Uint8Array }, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          seen("WriteArrow", call);
          if (options.writeArrow === "forwarder") {
            const details = "method WriteArrow not implemented";
            return callback({ code: grpc.status.UNIMPLEMENTED, details, name: "", message: "" });
          }
          const error = denied(call);
          if (error) return callback(error);
          if (call.request.ipcBuffer.length === 0) {
            return callback({
              code: grpc.status.INVALID_ARGUMENT,
              details: "empty ipc buffer",
              name: "",
              message: "",
            });
          }
          const refused = store?.writeStatus;
          if (refused !== undefined && refused !== grpc.status.OK) {
            return callback({ code: refused, details: "writes refused", name: "", message: "" });
          }
          if (store) store.writes++;
          callback(null, create(WriteArrowResponseSchema));
        };
      }
      const definition = Object.fromEntries(
        Object.entries(serviceDefinition(ProfileStoreService)).filter(
          ([name]) => name in implementation,
        ),
      );
      server.addService(definition, implementation);
    }
    const credentials = options.tls
      ? grpc.ServerCredentials.createSsl(
          options.tls.clientCa ? Buffer.from(options.tls.clientCa.certPem) : null,
          [
            {
              cert_chain: Buffer.from(options.tls.leaf.certPem),
              private_key: Buffer.from(options.tls.leaf.keyPem),
            },
          ],
          options.tls.clientCa !== undefined,
        )
      : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${options.port ?? 0}`, credentials, (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    store = new TestStore(server, port, options);
    return store;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.forceShutdown();
      resolve();
    });
  }
}
