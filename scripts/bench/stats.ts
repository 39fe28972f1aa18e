// What the bench reads off a process and how it sums up a series of times.
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

export function percentiles(values: readonly number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
  return {
    n: s.length,
    p50: round2(at(0.5)),
    p90: round2(at(0.9)),
    p99: round2(at(0.99)),
    max: round2(s.at(-1) ?? Number.NaN),
  };
}

export const ratio = (a: number, b: number) => round2(a / b);

/**
 * The documented restart backoff (docs/behaviour.md: 1 s doubling to 60 s, ±20 % jitter): the n-th crash
 * in a row (from 0) is restarted after this many ms, nominally.
 */
export const backoffMs = (n: number) => Math.min(1000 * 2 ** n, 60_000);

/**
 * Whether a crash → running time, measured from the kill, fits the n-th step of the documented
 * schedule: at least its −20 %, at most its +20 % plus `slackMs` for the restart itself.
 */
export const onSchedule = (ms: number, n: number, slackMs: number) =>
  ms >= backoffMs(n) * 0.8 && ms <= backoffMs(n) * 1.2 + slackMs;

/** Wall-clock milliseconds, comparable with the stand-in agent's `date +%s%N`. */
export const wallMs = () => performance.timeOrigin + performance.now();

/** CPU time of every thread of a process, in ns. */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // thread gone
    }
  }
  return total;
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round((Number(m?.[1] ?? 0) / 1024) * 10) / 10;
}

export const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
