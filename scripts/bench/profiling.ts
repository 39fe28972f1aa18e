// Time to profiling with the real parca-agent and real Parca servers (both built by
// `npm run peers`): the agent alone, exec → its first profile queryable (the baseline); under the
// sidecar, relation write → first profile queryable in the new store, and the profiling gap
// (last sample in the old store → first in the new), in restart mode and behind the relay; and
// crash-to-running after its worker dies.
// A small CPU load gives the agent something to sample every second.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { WORKER_FLAG } from "../../src/agent/group.js";
import { allPids, cmdline } from "../../src/agent/proc.js";
import { AgentState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { parcaBinary, RealParca } from "../../test/support/parca.js";
import { type AgentVersion, agentArgs, realAgentBinary } from "../../test/support/real-agent.js";
import { plaintext, writeRelation } from "../../test/support/relation.js";
import { Sidecar } from "../../test/support/sidecar.js";
import { backoffMs, onSchedule, type Percentiles, percentiles, ratio } from "./stats.js";

/** The agent's default --profiling-duration: a restart loses up to one (nothing is flushed). */
export const PROFILING_PERIOD_MS = 5000;

export type ProfilingResult =
  | { readonly missing: string }
  | {
      readonly baseline_ms: Percentiles;
      readonly time_to_profiling_ms: Percentiles;
      readonly time_to_profiling_ratio: number;
      readonly gap_ms: Percentiles;
      readonly gap_ratio: number;
      /** Worker SIGKILLed → a new agent RUNNING (from the kill), and the documented backoff. */
      readonly crash_to_running_ms: readonly number[];
      readonly backoff_ms: readonly number[];
      /** Each within its backoff ±20 %, plus 500 ms (the leftovers stopped, the status read). */
      readonly crash_on_schedule: boolean;
      /** The same moves behind the relay: the agent started once. */
      readonly relay: {
        readonly time_to_profiling_ms: Percentiles;
        readonly gap_ms: Percentiles;
        /** The agent's restarts over all the moves (the sidecar's count). */
        readonly restarts: number;
        readonly changes: number;
        readonly pid_unchanged: boolean;
      };
    };

/** Polls until `done` holds; throws after `timeoutMs`. */
async function until(what: string, done: () => Promise<boolean>, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The newest (or oldest) second in which `store` holds a CPU sample of `node`. */
async function sampleTime(store: RealParca, node: string, which: "first" | "last") {
  const now = Date.now();
  const query = new URLSearchParams({
    query: `parca_agent:samples:count:cpu:nanoseconds:delta{node="${node}"}`,
    start: new Date(now - 30 * 60_000).toISOString(),
    end: new Date(now + 10_000).toISOString(),
    step: "1s",
  });
  const res = await fetch(`http://${store.address}/api/profiles/query_range?${query}`);
  const body = (await res.json()) as { series?: { samples?: { timestamp: string }[] }[] };
  const times = (body.series ?? [])
    .flatMap((s) => s.samples ?? [])
    .map((s) => Date.parse(s.timestamp))
    .sort((a, b) => a - b);
  return which === "first" ? times[0] : times.at(-1);
}

/** A process busy 50 ms in every 250 (a fifth of a core): something to sample. */
function startLoad(): ChildProcess {
  const script = "setInterval(()=>{const t=Date.now()+50;while(Date.now()<t);},250)";
  return spawn(process.execPath, ["-e", script], { stdio: "ignore" });
}

/** The agent alone, each run into a fresh store (as each move under the sidecar is). */
async function baseline(agent: string, dir: string, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const store = await RealParca.start(await mkdtemp(join(dir, "parca-")));
    try {
      const { args, node } = await agentArgs(`bench-alone-${i}`);
      const started = performance.now();
      const child = spawn(
        agent,
        [...args, `--remote-store-address=${store.address}`, "--remote-store-insecure=true"],
        { detached: true, stdio: "ignore" },
      );
      await until(`${node}'s first profile`, async () => (await store.nodes()).includes(node));
      times.push(performance.now() - started);
      console.error(
        `  agent alone ${i + 1}: first profile after ${Math.round(times.at(-1) ?? 0)} ms`,
      );
      const exited = new Promise((resolve) => child.once("exit", resolve));
      // This run's own worker: another agent on the machine is none of the bench's business.
      const worker = allPids().find((pid) => {
        const argv = cmdline(pid);
        return argv?.at(-1) === WORKER_FLAG && argv.includes(`--node=${node}`);
      });
      process.kill(worker ?? -(child.pid as number), "SIGTERM");
      await exited;
    } finally {
      await store.stop();
    }
  }
  return times;
}

/**
 * Store moves under the sidecar: in restart mode (then its crash restarts), or behind the relay
 * (`relay`), where the agent is started once and never restarted.
 */
async function underSidecar(agent: string, dir: string, changes: number, relay: boolean) {
  const stores: RealParca[] = [];
  const store = async () => {
    const s = await RealParca.start(await mkdtemp(join(dir, "parca-")));
    stores.push(s);
    return s;
  };
  const relation = join(dir, "relation.json");
  let sidecar: Sidecar | undefined;
  try {
    let current = await store();
    await writeRelation(relation, plaintext(current.address));
    const { args, node } = await agentArgs("bench-sidecar");
    sidecar = await Sidecar.start(
      [
        ...["--relation", relation, "--agent", agent, "--state-dir", join(dir, "state")],
        // A killed worker is a crash, not a crash loop of a new config to roll back.
        ...["--debounce-ms", "10", "--min-uptime-ms", "1000"],
        ...(relay ? ["--relay", `unix:${join(dir, "relay.sock")}`] : []),
        ...["--", ...args],
      ],
      {},
      { watchStatus: false },
    );
    await until("the first store's profiles", async () => (await current.nodes()).includes(node));
    const firstPid = (await sidecar.status()).agent?.pid;
    const ttp: number[] = [];
    const gaps: number[] = [];
    for (let i = 0; i < changes; i++) {
      const next = await store();
      // A few seconds of profiling in the current store first, as in a real move.
      await sleep(PROFILING_PERIOD_MS);
      const written = performance.now();
      await writeRelation(relation, plaintext(next.address));
      await until(`profiles in store ${i + 1}`, async () => (await next.nodes()).includes(node));
      ttp.push(performance.now() - written);
      console.error(
        `  change ${i + 1}: profiles in the new store after ${Math.round(ttp.at(-1) ?? 0)} ms`,
      );
      const last = await sampleTime(current, node, "last");
      const first = await sampleTime(next, node, "first");
      // A sample that cannot be read is a failure of the measurement, never a dropped point.
      if (last === undefined || first === undefined)
        throw new Error(
          `change ${i + 1}: no ${last === undefined ? "last" : "first"} sample to measure the gap`,
        );
      gaps.push(first - last);
      await current.stop();
      stores.splice(stores.indexOf(current), 1);
      current = next;
    }
    const after = (await sidecar.status()).agent;
    const restarts = after?.restarts ?? -1;
    const samePid = after?.pid === firstPid;
    const crashes = relay ? [] : await crashToRunning(sidecar, node, 3);
    return { ttp, gaps, crashes, restarts, samePid };
  } finally {
    await sidecar?.stop();
    await Promise.all(stores.map((s) => s.stop()));
  }
}

/** SIGKILL to the running agent's worker → a new agent RUNNING (its backoff included). */
async function crashToRunning(sidecar: Sidecar, node: string, times: number) {
  const total: number[] = [];
  for (let i = 0; i < times; i++) {
    const before = (await sidecar.status()).agent?.pid ?? 0;
    const isWorker = (pid: number) => {
      const argv = cmdline(pid);
      return argv?.at(-1) === WORKER_FLAG && argv.includes(`--node=${node}`);
    };
    // The new agent re-executes itself once its dial succeeded.
    let worker: number | undefined;
    await until("the agent's worker", async () => {
      worker = allPids().find(isWorker);
      return worker !== undefined;
    });
    const killed = performance.now();
    process.kill(worker as number, "SIGKILL");
    await until("running again", async () => {
      const s = await sidecar.status();
      return (
        s.agent?.state === AgentState.RUNNING && s.agent.pid !== before && s.phase === Phase.RUNNING
      );
    });
    total.push(Math.round(performance.now() - killed));
  }
  return total;
}

export async function measureProfiling(
  changes: number,
  version: AgentVersion,
): Promise<ProfilingResult> {
  let agent: string;
  try {
    agent = realAgentBinary(version);
    parcaBinary();
  } catch (err) {
    return { missing: (err as Error).message };
  }
  const dir = await mkdtemp(join(tmpdir(), "parca-agent-sidecar-profiling-"));
  const load = startLoad();
  try {
    return await measured(agent, dir, changes);
  } catch (err) {
    // A measurement that could not be made is a missed target, with its reason.
    return { missing: `not measured: ${(err as Error).message}` };
  } finally {
    load.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  }
}

async function measured(agent: string, dir: string, changes: number): Promise<ProfilingResult> {
  const alone = percentiles(await baseline(agent, dir, changes));
  const { ttp, gaps, crashes } = await underSidecar(agent, dir, changes, false);
  const time = percentiles(ttp);
  const gap = percentiles(gaps);
  console.error("  the same moves behind the relay…");
  const relayed = await underSidecar(agent, await mkdtemp(join(dir, "relay-")), changes, true);
  return {
    relay: {
      time_to_profiling_ms: percentiles(relayed.ttp),
      gap_ms: percentiles(relayed.gaps),
      restarts: relayed.restarts,
      changes,
      pid_unchanged: relayed.samePid,
    },
    baseline_ms: alone,
    time_to_profiling_ms: time,
    time_to_profiling_ratio: ratio(time.p50, alone.p50),
    gap_ms: gap,
    gap_ratio: ratio(gap.p50, alone.p50),
    crash_to_running_ms: crashes,
    backoff_ms: crashes.map((_, i) => backoffMs(i)),
    crash_on_schedule: crashes.every((ms, i) => onSchedule(ms, i, 500)),
  };
}
