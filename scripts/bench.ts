// `npm run bench` (it runs `npm run package` first): the sidecar measured the way its users judge
// it, on loopback with a stand-in agent that is a tiny shell script
// (test/support/agents/record.sh), against the restart loop users write without it; and its
// start-up as `node dist/cli.js` and as the single-file binary. Prints a table and one JSON object; exits 1 when a target is missed.
// Targets: docs/performance.md. A target that was not measured is missed;
// `--without-real-agent` leaves the real agent's section out, and the table says so.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Phase } from "../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { AGENT_VERSIONS, type AgentVersion } from "../test/support/real-agent.js";
import { plaintext, writeRelation } from "../test/support/relation.js";
import { Sidecar } from "../test/support/sidecar.js";
import { measureChecks } from "./bench/checks.js";
import { AGENT, ensureLoopTools, measureLoop, startStores } from "./bench/peers.js";
import { measureProfiling, type ProfilingResult } from "./bench/profiling.js";
import { AgentRecord } from "./bench/record.js";
import { measureRelayCost } from "./bench/relay.js";
import { report } from "./bench/report.js";
import {
  measureBurst,
  measureIdle,
  measureReaction,
  measureSoak,
  type Run,
} from "./bench/sidecar-runs.js";
import { measureStartup } from "./bench/startup.js";
import { measureSteadyState } from "./bench/steady.js";
import { measureWrapper, WRAPPED_AGENT, WRAPPED_ARGS } from "./bench/wrapper.js";

const quick = process.env.BENCH_QUICK === "1";
/** Said up front: the real agent's section is left out (its targets are not counted). */
const withoutRealAgent = process.argv.includes("--without-real-agent");
const DEBOUNCE_MS = 10;
const N = {
  reaction: quick ? 60 : 300,
  reactionDefault: quick ? 20 : 60,
  soak: quick ? 200 : 2000,
  burst: 1000,
  checks: quick ? 50 : 200,
  settleS: quick ? 3 : 15,
  idleS: quick ? 5 : 30,
  steadyS: quick ? 10 : 30,
  profiling: 5,
  wrapper: quick ? 60 : 100,
  startup: quick ? 5 : 20,
  relay: quick ? 200 : 1000,
};

/** The sidecar supervising the stand-in agent, running the first store's config. */
async function startSidecar(
  dir: string,
  stores: readonly [string, string],
  agent = AGENT,
  extra: readonly string[] = [],
): Promise<Run> {
  const relation = join(dir, "relation.json");
  const record = new AgentRecord(join(dir, "agent.record"));
  try {
    return await startedSidecar(dir, stores, relation, record, agent, extra);
  } catch (err) {
    record.close();
    throw err;
  }
}

async function startedSidecar(
  dir: string,
  stores: readonly [string, string],
  relation: string,
  record: AgentRecord,
  agent: string,
  extra: readonly string[],
): Promise<Run> {
  await writeRelation(relation, plaintext(stores[0]));
  const sidecar = await Sidecar.start(
    [
      ...["--relation", relation, "--agent", agent, "--state-dir", join(dir, "state")],
      ...["--debounce-ms", String(DEBOUNCE_MS), ...extra],
    ],
    { STANDIN_RECORD: record.path },
    { watchStatus: false },
  );
  await sidecar.waitStatus("running", (s) => s.phase === Phase.RUNNING);
  await record.next(0, stores[0]);
  return { sidecar, pid: sidecar.child.pid as number, relation, record, stores };
}

async function main(): Promise<number> {
  ensureLoopTools();
  const dir = await mkdtemp(join(tmpdir(), "parca-agent-sidecar-bench-"));
  const stores = await startStores(2);
  const pair = stores.addresses as [string, string];
  let run: Run | undefined;
  try {
    run = await startSidecar(dir, pair);
    console.error(`sidecar pid ${run.pid}; idle: ${N.settleS} s settle, ${N.idleS} s window…`);
    const idle = await measureIdle(run, N.settleS, N.idleS);
    console.error(`reaction: ${N.reaction} changes…`);
    const reaction = await measureReaction(run, N.reaction);
    console.error(`burst: ${N.burst} writes in one second…`);
    const burst = await measureBurst(run, N.burst);
    console.error(`soak: ${N.soak} change cycles…`);
    const soak = await measureSoak(run, N.soak);
    await run.sidecar.stop();
    run.record.close();
    run = undefined;
    console.error(`reaction at the default --debounce-ms (200): ${N.reactionDefault} changes…`);
    run = await startSidecar(await mkdtemp(join(dir, "default-")), pair, AGENT, [
      "--debounce-ms",
      "200",
    ]);
    const reactionDefault = await measureReaction(run, N.reactionDefault);
    await run.sidecar.stop();
    run.record.close();
    run = undefined;
    console.error(`a wrapper that does not exec: ${N.wrapper} changes, 3 leader kills…`);
    const wrappedDir = await mkdtemp(join(dir, "wrapped-"));
    run = await startSidecar(wrappedDir, pair, WRAPPED_AGENT, WRAPPED_ARGS);
    const wrapper = await measureWrapper(run, N.wrapper, 3);
    await run.sidecar.stop();
    run.record.close();
    run = undefined;
    console.error(`do-it-yourself loops: ${N.reaction} changes each…`);
    const diy = await measureLoop({ kind: "inotify", reader: "grep" }, dir, pair, N.reaction);
    const diyLean = await measureLoop({ kind: "inotify", reader: "bash" }, dir, pair, N.reaction);
    const diyQuiet = await measureLoop(
      { kind: "inotify", reader: "grep", quietMs: DEBOUNCE_MS },
      dir,
      pair,
      N.reaction,
    );
    const nodeQuiet = await measureLoop(
      { kind: "node", quietMs: DEBOUNCE_MS },
      dir,
      pair,
      N.reaction,
    );
    const nodeImmediate = await measureLoop({ kind: "node", quietMs: 0 }, dir, pair, N.reaction);
    console.error("check latency…");
    const checks = await measureChecks(dir, N.checks);
    console.error(`steady state: store calls over ${N.steadyS} s while the agent delivers…`);
    const steady = await measureSteadyState(dir, N.steadyS);
    console.error(`start-up, node dist/cli.js and the binary: ${N.startup} rounds…`);
    const startup = await measureStartup(N.startup, await mkdtemp(join(dir, "startup-")));
    console.error(`the relay's cost: ${N.relay} writes of 64 KiB each way, then 256 MB…`);
    const relayCost = await measureRelayCost(await mkdtemp(join(dir, "relay-")), N.relay);
    const profiling: Partial<Record<AgentVersion, ProfilingResult>> = {};
    for (const version of withoutRealAgent ? [] : AGENT_VERSIONS) {
      console.error(`time to profiling with the real agent ${version}: ${N.profiling} changes…`);
      profiling[version] = await measureProfiling(N.profiling, version);
    }
    const measured = {
      quick,
      withoutRealAgent,
      debounceMs: DEBOUNCE_MS,
      reaction,
      diy,
      diyLean,
      diyQuiet,
    };
    const loops = { nodeQuiet, nodeImmediate };
    const all = {
      ...measured,
      ...loops,
      ...{ reactionDefault, burst, idle, soak, checks, steady, profiling, wrapper, startup },
      relayCost,
    };
    return report(all) ? 0 : 1;
  } finally {
    await run?.sidecar.stop();
    run?.record.close();
    await stores.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main().catch((err: unknown) => {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  return 2;
});
