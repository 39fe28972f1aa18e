// The agent behind a wrapper that does not exec: a restart must cost about what a well-kept
// agent's does (the wrapper's agent is SIGTERMed the moment the wrapper exits), and a leader
// SIGKILLed while its child lives must be running again after the documented backoff (1, 2, 4 s
// ±20 % for three crashes in a row, measured from the kill), not after --stop-timeout-ms (what
// is left of its group is stopped at once).
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT } from "../../test/support/root.js";
import { measureReaction, type Run } from "./sidecar-runs.js";
import { backoffMs, onSchedule, type Percentiles, wallMs } from "./stats.js";

export const WRAPPED_AGENT = join(ROOT, "scripts", "bench", "record-wrapper.sh");
/** Passed to the wrapped run: a SIGKILL is a crash, not a crash loop of a new config. */
export const WRAPPED_ARGS = ["--min-uptime-ms", "1000"];

export interface WrapperResult {
  readonly restart_ms: Percentiles;
  /** From the kill to the new agent's start, and the documented backoff of each crash. */
  readonly crash_to_running_ms: readonly number[];
  readonly backoff_ms: readonly number[];
  /** Each within the documented backoff ±20 %, plus 100 ms for the restart itself. */
  readonly crash_on_schedule: boolean;
}

export async function measureWrapper(
  run: Run,
  changes: number,
  crashes: number,
): Promise<WrapperResult> {
  const restart = await measureReaction(run, changes);
  const total: number[] = [];
  for (let i = 0; i < crashes; i++) {
    await sleep(1500); // past --min-uptime-ms
    const leader = (await run.sidecar.status()).agent?.pid ?? 0;
    const from = run.record.lines.length;
    const killed = wallMs();
    process.kill(leader, "SIGKILL");
    const started = await run.record.next(from, "--remote-store-address=", 60_000);
    total.push(Math.round(started.atMs - killed));
  }
  // The crashes come in a row (each before 60 s of uptime): 1, 2, 4 s.
  return {
    restart_ms: restart,
    crash_to_running_ms: total,
    backoff_ms: total.map((_, i) => backoffMs(i)),
    crash_on_schedule: total.every((ms, i) => onSchedule(ms, i, 100)),
  };
}
