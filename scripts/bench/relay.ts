// What the relay costs a write: the same WriteArrow calls (64 KiB, as an agent's batch) made
// straight to a grpc-js store and through the sidecar's relay, one at a time, interleaved, and
// the sidecar's CPU per MB relayed while four calls at a time push 256 MB through it.
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { WriteArrowRequestSchema } from "../../src/gen/parca/profilestore/v1alpha1/profilestore_pb.js";
import { plaintext, writeRelation } from "../../test/support/relation.js";
import { Sidecar } from "../../test/support/sidecar.js";
import { TestStore } from "../../test/support/store.js";
import { cpuNs, type Percentiles, percentiles } from "./stats.js";

const WRITE_ARROW = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteArrow";
const BATCH_BYTES = 64 * 1024;
const PUSH_MB = 256;

export interface RelayCost {
  readonly batch_kib: number;
  readonly direct_ms: Percentiles;
  readonly relayed_ms: Percentiles;
  /** p50 relayed − p50 direct. */
  readonly added_p50_ms: number;
  readonly pushed_mb: number;
  readonly cpu_ms_per_mb: number;
  readonly relayed_mb_per_s: number;
}

function write(client: grpc.Client, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      WRITE_ARROW,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

async function timed(client: grpc.Client, body: Buffer): Promise<number> {
  const started = performance.now();
  await write(client, body);
  return performance.now() - started;
}

export async function measureRelayCost(dir: string, calls: number): Promise<RelayCost> {
  const store = await TestStore.start();
  const relation = join(dir, "relay-cost.json");
  await writeRelation(relation, plaintext(store.address));
  const socket = join(dir, "relay-cost.sock");
  // The agent runs elsewhere: the sidecar is the relay alone, as beside the official image.
  const sidecar = await Sidecar.start(
    [
      ...["--relation", relation, "--state-dir", join(dir, "relay-cost-state")],
      ...["--mode", "external", "--relay", `unix:${socket}`, "--agent-version", "v0.49.0"],
    ],
    {},
    { watchStatus: false },
  );
  const direct = new grpc.Client(store.address, grpc.credentials.createInsecure());
  const relayed = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    await sidecar.waitStatus("applied", (s) => s.applied?.address === store.address, 60_000);
    const body = Buffer.from(
      toBinary(
        WriteArrowRequestSchema,
        create(WriteArrowRequestSchema, { ipcBuffer: new Uint8Array(BATCH_BYTES).fill(7) }),
      ),
    );
    // Warm both paths (connections, JIT) before anything counts.
    for (let i = 0; i < 50; i++) {
      await write(direct, body);
      await write(relayed, body);
    }
    const straight: number[] = [];
    const through: number[] = [];
    for (let i = 0; i < calls; i++) {
      straight.push(await timed(direct, body));
      through.push(await timed(relayed, body));
    }
    const pid = sidecar.child.pid as number;
    const batches = (PUSH_MB * 1024 * 1024) / BATCH_BYTES;
    const cpuBefore = cpuNs(pid);
    const started = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < batches) {
        next++;
        await write(relayed, body);
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
    const seconds = (performance.now() - started) / 1000;
    const cpuMs = (cpuNs(pid) - cpuBefore) / 1e6;
    const d = percentiles(straight);
    const r = percentiles(through);
    return {
      batch_kib: BATCH_BYTES / 1024,
      direct_ms: d,
      relayed_ms: r,
      added_p50_ms: Math.round((r.p50 - d.p50) * 100) / 100,
      pushed_mb: PUSH_MB,
      cpu_ms_per_mb: Math.round((cpuMs / PUSH_MB) * 100) / 100,
      relayed_mb_per_s: Math.round(PUSH_MB / seconds),
    };
  } finally {
    direct.close();
    relayed.close();
    await sidecar.stop();
    await store.stop();
  }
}
