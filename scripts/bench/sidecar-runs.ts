// The sidecar measured as its users judge it: idle cost, reaction to a change, a burst of
// writes, and a long run of changes.
import { renameSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import type { Sidecar } from "../../test/support/sidecar.js";
import { type AgentRecord, change } from "./record.js";
import { cpuNs, fdCount, type Percentiles, percentiles, rssMb } from "./stats.js";

export interface Run {
  readonly sidecar: Sidecar;
  readonly pid: number;
  readonly relation: string;
  readonly record: AgentRecord;
  readonly stores: readonly [string, string];
}

export async function measureIdle(run: Run, settleS: number, windowS: number) {
  await sleep(settleS * 1000);
  const cpu0 = cpuNs(run.pid);
  await sleep(windowS * 1000);
  return {
    settle_s: settleS,
    window_s: windowS,
    cpu_ms: Math.round((cpuNs(run.pid) - cpu0) / 1e5) / 10,
    rss_mb: rssMb(run.pid),
  };
}

/** Changes one at a time, each from an idle sidecar (done applying, state persisted). */
export async function measureReaction(run: Run, count: number): Promise<Percentiles> {
  const [a, b] = run.stores;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const address = i % 2 === 0 ? b : a;
    times.push(await change(run.relation, run.record, address));
    await run.sidecar.waitStatus(
      "applied",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === address,
    );
    await sleep(50);
  }
  if (process.env.BENCH_DEBUG)
    console.error(`reactions: ${times.map((t) => t.toFixed(0)).join(" ")}`);
  return percentiles(times);
}

/** `writes` rename-overs evenly spread over one second; how many restarts, and who won. */
export async function measureBurst(run: Run, writes: number) {
  const [a, b] = run.stores;
  await sleep(200);
  const before = run.record.lines.length;
  const t0 = performance.now();
  for (let i = 1; i <= writes; i++) {
    // Synchronous writes on a schedule: the writer never yields to anything else.
    while (performance.now() < t0 + i * (1000 / writes)) {
      // spin until this write's time
    }
    writeFileSync(
      `${run.relation}.tmp`,
      JSON.stringify({
        "remote-store-address": i % 2 === 0 ? a : b,
        "remote-store-insecure": "true",
        "remote-store-bearer-token": `burst-${String(i).padStart(4, "0")}`,
      }),
    );
    renameSync(`${run.relation}.tmp`, run.relation);
  }
  const durationMs = performance.now() - t0;
  await run.record.next(before, `burst-${writes}`, 20_000).catch(() => undefined);
  await sleep(2000);
  run.record.read();
  const starts = run.record.lines.slice(before);
  return {
    writes,
    duration_ms: Math.round(durationMs),
    restarts: starts.length,
    last_content_won: starts.at(-1)?.argv.includes(`burst-${writes}`) === true,
  };
}

/** `cycles` changes back to back; memory and descriptors from cycle 100 to the end. */
export async function measureSoak(run: Run, cycles: number) {
  const [a, b] = run.stores;
  let start = { rss: 0, fds: 0 };
  for (let i = 0; i < cycles; i++) {
    await change(run.relation, run.record, i % 2 === 0 ? a : b);
    if (i === 99) start = { rss: rssMb(run.pid), fds: fdCount(run.pid) };
  }
  await sleep(1000);
  const end = { rss: rssMb(run.pid), fds: fdCount(run.pid) };
  return {
    cycles,
    rss_start_mb: start.rss,
    rss_end_mb: end.rss,
    rss_growth_mb: Math.round((end.rss - start.rss) * 10) / 10,
    fds_start: start.fds,
    fds_end: end.fds,
    fd_growth: end.fds - start.fds,
  };
}
