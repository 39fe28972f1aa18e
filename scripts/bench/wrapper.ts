// The agent behind a wrapper that does not exec: a restart must cost about what a well-kept
// agent's does (the wrapper's agent is SIGTERMed the moment the wrapper exits), and a leader
// SIGKILLed while its child lives must be running again after its backoff, not after
// --stop-timeout-ms (what is left of its group is stopped at once).
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT } from "../../test/support/root.js";
import { measureReaction, type Run } from "./sidecar-runs.js";
import { type Percentiles, wallMs } from "./stats.js";

export const WRAPPED_AGENT = join(ROOT, "scripts", "bench", "record-wrapper.sh");
/** Passed to the wrapped run: a SIGKILL is a crash, not a crash loop of a new config. */
export const WRAPPED_ARGS = ["--min-uptime-ms", "1000"];

export interface WrapperResult {
  readonly restart_ms: Percentiles;
  readonly crash_to_running_ms: readonly number[];
  readonly crash_beyond_backoff_ms: readonly number[];
}

export async function measureWrapper(
  run: Run,
  changes: number,
  crashes: number,
): Promise<WrapperResult> {
  const restart = await measureReaction(run, changes);
  const total: number[] = [];
  const beyond: number[] = [];
  for (let i = 0; i < crashes; i++) {
    await sleep(1500); // past --min-uptime-ms
    const leader = (await run.sidecar.status()).agent?.pid ?? 0;
    const from = run.record.lines.length;
    const killed = wallMs();
    process.kill(leader, "SIGKILL");
    const started = await run.record.next(from, "--remote-store-address=", 60_000);
    const ms = Math.round(started.atMs - killed);
    const exits = run.sidecar.logs().filter((l) => l.event === "agent_exited");
    total.push(ms);
    beyond.push(ms - Number(exits.at(-1)?.restartInMs ?? 0));
  }
  return { restart_ms: restart, crash_to_running_ms: total, crash_beyond_backoff_ms: beyond };
}
