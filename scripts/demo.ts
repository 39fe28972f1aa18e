// `npm run demo`: the sidecar at work on loopback, in a temp dir, with no network — a Parca
// protocol store (plaintext, then TLS with a token), a stand-in agent that prints the flags it
// was started with, and the real sidecar (dist/cli.js run), narrated step by step.
// PARCA_SIDECAR_BIN=release/parca-agent-sidecar-linux-x64 npm run demo: the same with the
// single-file binary (`npm run package`) as the sidecar.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Phase, type Status } from "../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { makePki } from "../test/support/certs.js";
import { sidecarCommand } from "../test/support/cli.js";
import { standinProcesses, standinRun, waitFor } from "../test/support/procs.js";
import { plaintext, writeRelation } from "../test/support/relation.js";
import { Sidecar } from "../test/support/sidecar.js";
import { TestStore } from "../test/support/store.js";

const TOKENS = ["demo-token-one", "demo-token-two", "demo-wrong-token"];
const started = performance.now();

function say(title: string): void {
  console.log(`\n▶ ${title}`);
}

/** Prints the status line, the check, and what the running agent printed about its flags. */
async function show(status: Status, sc: Sidecar): Promise<void> {
  console.log(`  status: ${Phase[status.phase]} — ${status.message}`);
  const check = status.lastCheck;
  if (check && check.stages.length > 0 && status.phase !== Phase.WAITING_FOR_RELATION) {
    const stages = check.stages
      .map((s) => `${s.name} ${s.durationMs.toFixed(1)} ms${s.ok ? "" : " ✗"}`)
      .join(", ");
    console.log(
      `  check:  ${check.ok ? "passed" : `failed (${check.diagnosis?.code})`}: ${stages}`,
    );
  }
  const address = status.applied?.address;
  if (!status.agent?.pid || !address) return;
  const said = await waitFor("the agent's flags", () =>
    sc
      .logs()
      .filter((l) => l.event === "agent_output" && String(l.msg).startsWith("agent running with"))
      .map((l) => String(l.msg))
      .findLast((m) => m.includes(`--remote-store-address=${address}`)),
  );
  console.log(`  agent (pid ${status.agent.pid}) says: ${said}`);
}

async function demo(dir: string, cleanup: (() => Promise<unknown>)[]): Promise<void> {
  const pki = makePki();
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, pki.ca.certPem);
  const plain = await TestStore.start();
  const tls = await TestStore.start({ tls: { leaf: pki.leaf }, token: TOKENS.slice(0, 2) });
  cleanup.push(
    () => plain.stop(),
    () => tls.stop(),
  );
  console.log(
    `Parca-protocol stores on loopback: plaintext ${plain.address}, TLS ${tls.address} (token required)`,
  );
  const relation = join(dir, "parca-store.json");
  const sc = await Sidecar.start([
    ...standinRun(relation, join(dir, "state")),
    "--ca-file",
    caFile,
    "--debounce-ms",
    "50",
    "--remove-grace-ms",
    "500",
    "--",
    "--node=demo-node",
  ]);
  cleanup.push(() => sc.stop());
  console.log(`sidecar started (${sidecarCommand().join(" ")}); its API listens on ${sc.address}`);

  say("No relation data yet: the sidecar waits, and says so");
  await show(await sc.waitStatus("waiting", (s) => s.phase === Phase.WAITING_FOR_RELATION), sc);

  say("The store writes its relation data (plaintext): checked, then the agent is started");
  await writeRelation(relation, plaintext(plain.address));
  await show(await sc.waitStatus("running", (s) => s.phase === Phase.RUNNING), sc);

  say(
    "It moves behind TLS with a bearer token: checked over TLS 1.3 with the token, agent restarted",
  );
  await writeRelation(relation, {
    "remote-store-address": `localhost:${tls.port}`,
    "remote-store-insecure": "false",
    "remote-store-bearer-token": TOKENS[0] as string,
  });
  const onTls = await sc.waitStatus(
    "running on TLS",
    (s) => s.phase === Phase.RUNNING && s.applied?.tokenSet === true,
  );
  await show(onTls, sc);

  say("The token is rotated: the new one is checked, the agent restarted with it");
  await writeRelation(relation, {
    "remote-store-address": `localhost:${tls.port}`,
    "remote-store-insecure": "false",
    "remote-store-bearer-token": TOKENS[1] as string,
  });
  const rotated = await sc.waitStatus(
    "rotated",
    (s) => s.phase === Phase.RUNNING && (s.agent?.restarts ?? 0) > (onTls.agent?.restarts ?? 0),
  );
  await show(rotated, sc);

  say("A wrong token is written: held with its diagnosis; the running agent is not touched");
  await writeRelation(relation, {
    "remote-store-address": `localhost:${tls.port}`,
    "remote-store-insecure": "false",
    "remote-store-bearer-token": TOKENS[2] as string,
  });
  const held = await sc.waitStatus("held", (s) => s.phase === Phase.DEGRADED);
  await show(held, sc);
  if (held.agent?.pid !== rotated.agent?.pid)
    throw new Error("the agent was restarted for a config that failed its check");

  say("The relation is removed: after the grace period the agent is stopped");
  await rm(relation);
  await show(await sc.waitStatus("stopped", (s) => s.phase === Phase.WAITING_FOR_RELATION), sc);

  say("SIGTERM: the sidecar stops gracefully");
  const code = await sc.stop();
  if (code !== 0) throw new Error(`the sidecar exited ${code}`);
  await waitFor("no agent left", () => standinProcesses().length === 0);
  const leaked = TOKENS.filter((t) => sc.text().includes(t));
  if (leaked.length > 0)
    throw new Error(
      `a token appeared in the sidecar's output: ${leaked.length} of ${TOKENS.length}`,
    );
  console.log(
    `  exit ${code}; no agent left; no token in ${sc.text().split("\n").length} lines of sidecar output`,
  );
}

const dir = await mkdtemp(join(tmpdir(), "parca-agent-sidecar-demo-"));
const cleanup: (() => Promise<unknown>)[] = [];
try {
  await demo(dir, cleanup);
  console.log(`\n✔ demo done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(`\n✘ demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  for (const { pid } of standinProcesses()) process.kill(pid, "SIGKILL");
  await rm(dir, { recursive: true, force: true });
}
