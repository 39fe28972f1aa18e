// `npm run demo:real`: the demo's story with the real parca-agent v0.49.0 and two real Parca
// v0.28.0 servers (built by `npm run peers`, which the script runs first), on loopback with no
// network: relation → checked → the agent profiles into store A; moved to store B; removed →
// the agent stopped. After each change it prints which nodes' profiles each store holds.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Phase, type Status } from "../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { RealParca } from "../test/support/parca.js";
import { waitFor } from "../test/support/procs.js";
import { agentArgs, realAgentBinary } from "../test/support/real-agent.js";
import { plaintext, writeRelation } from "../test/support/relation.js";
import { Sidecar } from "../test/support/sidecar.js";

const started = performance.now();
const at = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;

async function holdings(stores: Record<string, RealParca>): Promise<void> {
  for (const [name, store] of Object.entries(stores)) {
    const nodes = await store.nodes();
    console.log(`  store ${name} (${store.address}) holds profiles of: ${nodes.join(", ") || "—"}`);
  }
}

function show(status: Status): void {
  console.log(`  [${at()}] status: ${Phase[status.phase]} — ${status.message}`);
  const check = status.lastCheck;
  if (check?.writeRpc) {
    const stages = check.stages.map((s) => `${s.name} ${s.durationMs.toFixed(1)} ms`).join(", ");
    console.log(
      `  check: ${check.ok ? "passed" : "failed"} (${stages}; probed ${check.writeRpc}: ${check.writeRpcReason})`,
    );
  }
}

async function demo(agent: string, dir: string, cleanup: (() => Promise<unknown>)[]) {
  const a = await RealParca.start(await mkdtemp(join(dir, "a-")));
  cleanup.push(() => a.stop());
  const b = await RealParca.start(await mkdtemp(join(dir, "b-")));
  cleanup.push(() => b.stop());
  const stores = { A: a, B: b };
  console.log(`Parca v0.28.0 servers on loopback: A ${a.address}, B ${b.address}`);
  const relation = join(dir, "parca-store.json");
  const { args, node } = await agentArgs("demo-node");
  const sc = await Sidecar.start([
    ...["--relation", relation, "--agent", agent, "--state-dir", join(dir, "state")],
    ...["--debounce-ms", "50", "--", ...args],
  ]);
  cleanup.push(() => sc.stop());
  console.log(`sidecar pid ${sc.child.pid}; agent base args: ${args.join(" ")}`);

  const step = async (
    title: string,
    target: RealParca | undefined,
    until: (s: Status) => boolean,
  ) => {
    console.log(`\n▶ ${title}`);
    const status = await sc.waitStatus(title, until, 120_000);
    show(status);
    if (target) {
      await waitFor(
        `profiles in ${target.address}`,
        async () => (await target.nodes()).includes(node),
        120_000,
      );
      console.log(`  [${at()}] the agent's first profile is queryable in ${target.address}`);
    }
    await holdings(stores);
  };
  await writeRelation(relation, plaintext(a.address));
  await step(
    "relation names store A",
    a,
    (s) => s.phase === Phase.RUNNING && s.applied?.address === a.address,
  );
  await writeRelation(relation, plaintext(b.address));
  await step(
    "relation moved to store B",
    b,
    (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address,
  );
  await writeRelation(relation, {});
  await step("relation removed", undefined, (s) => s.phase === Phase.WAITING_FOR_RELATION);
}

async function main(): Promise<number> {
  let agent: string;
  try {
    agent = realAgentBinary("v0.49.0");
  } catch (err) {
    console.error(`demo:real: ${(err as Error).message}`);
    return 1;
  }
  const dir = await mkdtemp(join(tmpdir(), "parca-agent-sidecar-demo-real-"));
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    await demo(agent, dir, cleanup);
    console.log(`\ndone in ${at()}`);
    return 0;
  } finally {
    for (const stop of cleanup.reverse()) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main().catch((err: unknown) => {
  console.error(`demo:real failed: ${(err as Error).stack ?? err}`);
  return 1;
});
