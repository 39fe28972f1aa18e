import { readFileSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { AgentState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { runCli, spawnCli } from "../support/cli.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { refusedPort } from "../support/endpoints.js";
import { recordedStarts, STANDIN, standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

const RECORD_SH = fileURLToPath(new URL("../support/commands/record.sh", import.meta.url));
cleanUpAfterEach();
const store = startStore;
const start = startSidecar;

describe("run options", () => {
  it("reads every option from PARCA_SIDECAR_* and lets a flag replace its variable", async () => {
    const dir = await tempDir();
    const s1 = await store();
    const relation = join(dir, "relation.json");
    const record = join(dir, "starts.jsonl");
    await writeRelation(relation, plaintext(s1.address));
    const sc = await start(["--debounce-ms", "10"], {
      PARCA_SIDECAR_RELATION: `${join(dir, "missing.json")}:${relation}`,
      PARCA_SIDECAR_AGENT: STANDIN,
      PARCA_SIDECAR_STATE_DIR: join(dir, "state"),
      PARCA_SIDECAR_DEBOUNCE_MS: "not-a-number-but-replaced",
      PARCA_SIDECAR_LOG_LEVEL: "debug",
      STANDIN_RECORD: record,
    });
    const st = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(st.sources.map((s) => s.path)).toEqual([join(dir, "missing.json"), relation]);
    expect(st.sources[0]?.warnings.map((w) => w.code)).toEqual(["SOURCE_MISSING"]);
    expect(sc.logs().some((l) => l.level === 20)).toBe(true);
    await waitFor("the agent's start", () => recordedStarts(record).length === 1);
  });

  it("refuses bad settings at start: exit 2 for usage, exit 1 when it cannot listen or use the state dir", async () => {
    const dir = await tempDir();
    const relation = join(dir, "r.json");
    const usage = await runCli([
      "run",
      "--relation",
      relation,
      "--mode",
      "external",
      "--flags-file",
      join(dir, "f"),
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--stop-command");
    expect((await runCli(["run"])).code).toBe(2);
    expect((await runCli(["run", "--relation", relation, "--listen", "nowhere"])).code).toBe(2);
    expect((await runCli(["run", "--relation", relation, "--restart-command", "a 'b"])).code).toBe(
      2,
    );
    // v0.41.0 reads --config-path only for relabel_configs: its agent would start with no store.
    const yaml = (version: string) => [
      ...["run", "--relation", relation, "--mode", "external", "--flags-file", join(dir, "f")],
      ...["--flags-format", "yaml", "--agent-process", "parca-agent", "--on-remove", "keep"],
      ...["--agent-version", version],
    ];
    const old = await runCli(yaml("v0.41.0"));
    expect(old.code).toBe(2);
    expect(old.stderr).toContain("needs parca-agent v0.41.1 or later");

    await writeFile(join(dir, "file"), "");
    const badState = await spawnCli([
      "run",
      "--relation",
      relation,
      "--state-dir",
      join(dir, "file", "state"),
      "--listen",
      "127.0.0.1:0",
    ]);
    expect(badState.code).toBe(1);
    expect(badState.stderr).toContain("state dir");

    const other = await start(["--relation", relation, "--state-dir", join(dir, "s1")]);
    const taken = await spawnCli([
      "run",
      "--relation",
      relation,
      "--state-dir",
      join(dir, "s2"),
      "--listen",
      other.address,
    ]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain("cannot listen");
  });

  it("--unverified apply runs a config that failed its check: DEGRADED, not ready; promoted once it passes", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const record = join(dir, "starts.jsonl");
    const port = await refusedPort();
    const sc = await start([...standinRun(relation, join(dir, "state")), "--unverified", "apply"], {
      STANDIN_RECORD: record,
    });
    await writeRelation(relation, plaintext(`127.0.0.1:${port}`));
    const degraded = await sc.waitStatus(
      "DEGRADED",
      (s) => s.phase === Phase.DEGRADED && s.applied !== undefined,
    );
    expect(degraded.lastCheck?.diagnosis?.code).toBe("CONNECTION_REFUSED");
    expect(degraded.message).toContain("--unverified apply");
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
    await waitFor("the agent's start", () => recordedStarts(record).length === 1);
    let state = "";
    try {
      state = readFileSync(join(dir, "state", "last-known-good.json"), "utf8");
    } catch {
      state = "";
    }
    expect(state).toBe(""); // a config that failed its check is never persisted
    await store({ port });
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(recordedStarts(record)).toHaveLength(1); // promoted without a restart
    expect(
      JSON.parse(readFileSync(join(dir, "state", "last-known-good.json"), "utf8")).current.address,
    ).toBe(`127.0.0.1:${port}`);
  });

  it("--on-remove keep leaves the agent running; SIGHUP reloads", async () => {
    const dir = await tempDir();
    const s1 = await store();
    const relation = join(dir, "relation.json");
    const sc = await start([
      ...standinRun(relation, join(dir, "state")),
      "--on-remove",
      "keep",
      "--remove-grace-ms",
      "100",
      "--rescan-ms",
      "0",
      "--debounce-ms",
      "60000",
    ]);
    await writeRelation(relation, plaintext(s1.address));
    // Debounce of a minute: only SIGHUP makes the sidecar read the data now.
    sc.signal("SIGHUP");
    await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING && s.applied !== undefined);
    await rm(relation);
    sc.signal("SIGHUP");
    const kept = await sc.waitStatus(
      "kept",
      (s) => s.desired === undefined && s.message.includes("--on-remove keep"),
    );
    expect(kept.phase).toBe(Phase.RUNNING);
    expect(kept.agent?.state).toBe(AgentState.RUNNING);
    expect(await sc.health("readiness")).toBe(Serving.SERVING);
  });

  it("re-checks the applied store periodically into applied_check, without touching last_check or the agent", async () => {
    const dir = await tempDir();
    const s1 = await store();
    const relation = join(dir, "relation.json");
    await writeRelation(relation, plaintext(s1.address));
    const sc = await start([...standinRun(relation, join(dir, "state")), "--recheck-ms", "200"]);
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    s1.setHealth("NOT_SERVING");
    const st = await sc.waitStatus(
      "a failed re-check",
      (s) => s.appliedCheck?.diagnosis?.code === "NOT_SERVING",
    );
    expect(st.lastCheck?.ok).toBe(true);
    expect(st.agent?.pid).toBe(running.agent?.pid);
    expect(st.phase).toBe(Phase.RUNNING);
  });

  it("external mode: writes the flags file and runs the restart command once per change", async () => {
    const dir = await tempDir();
    const [a, b] = [await store(), await store()];
    const relation = join(dir, "relation.json");
    const flagsFile = join(dir, "etc", "parca-agent.env");
    const log = join(dir, "commands.log");
    await mkdir(join(dir, "etc"));
    const sc = await start(
      [
        "--relation",
        relation,
        "--mode",
        "external",
        "--flags-file",
        flagsFile,
        "--flags-format",
        "env",
        "--restart-command",
        `${RECORD_SH} restart 'parca agent'`,
        "--stop-command",
        `${RECORD_SH} stop`,
        "--state-dir",
        join(dir, "state"),
        "--remove-grace-ms",
        "100",
        "--",
        "--node=vm1",
      ],
      { RECORD: log },
    );
    const commands = () => readFileSync(log, "utf8").trim().split("\n");
    await writeRelation(relation, plaintext(a.address));
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(running.agent?.state).toBe(AgentState.EXTERNAL);
    expect(readFileSync(flagsFile, "utf8")).toBe(
      `PARCA_AGENT_FLAGS="--node=vm1 --remote-store-address=${a.address} --remote-store-insecure=true"\n`,
    );
    expect(statSync(flagsFile).mode & 0o777).toBe(0o600);
    expect(commands()).toEqual([`restart parca agent|${a.address}|true|`]);
    await writeRelation(relation, plaintext(a.address));
    await writeRelation(relation, plaintext(b.address));
    await sc.waitStatus("RUNNING on b", (s) => s.applied?.address === b.address);
    expect(commands()).toEqual([
      `restart parca agent|${a.address}|true|`,
      `restart parca agent|${b.address}|true|`,
    ]);
    await rm(relation);
    await sc.waitStatus("stopped", (s) => s.phase === Phase.WAITING_FOR_RELATION);
    expect(commands().at(-1)).toBe(`stop|${b.address}|true|`);
  });
});

describe("status", () => {
  it("prints a summary, --json prints Status, --watch follows changes; exit 1 when nobody answers", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const sc = await start(["--relation", relation, "--state-dir", join(dir, "state")]);
    const human = await spawnCli(["status", "--address", sc.address]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("phase:    WAITING_FOR_RELATION");
    expect(human.stdout).toContain(`source:   ${relation}`);
    const json = await spawnCli(["status", "--json"], { PARCA_SIDECAR_LISTEN: sc.address });
    const status = JSON.parse(json.stdout);
    expect(status.phase).toBe("PHASE_WAITING_FOR_RELATION");
    expect(status.agentArgs).toEqual([]);
    expect(status.sources[0].warnings[0].code).toBe("SOURCE_MISSING");
    const port = await refusedPort();
    const down = await spawnCli(["status", "--address", `127.0.0.1:${port}`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("no answer");
    expect(down.stdout).toBe("");
  });

  it("--watch --json prints one JSON line per change", async () => {
    const dir = await tempDir();
    const s1 = await store();
    const relation = join(dir, "relation.json");
    const sc = await start([...standinRun(relation, join(dir, "state"))]);
    const { spawn } = await import("node:child_process");
    const { sidecarCommand } = await import("../support/cli.js");
    const [command, ...prefix] = sidecarCommand() as [string, ...string[]];
    const watcher = spawn(command, [
      ...prefix,
      "status",
      "--watch",
      "--json",
      "--address",
      sc.address,
    ]);
    let out = "";
    watcher.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor("the first line", () => out.includes("\n"));
      await writeRelation(relation, plaintext(s1.address));
      await waitFor("RUNNING in the stream", () => out.includes('"phase":"PHASE_RUNNING"'));
      const lines = out.trim().split("\n");
      expect(lines.length).toBeGreaterThan(1);
      for (const line of lines) expect(JSON.parse(line)).toHaveProperty("phase");
    } finally {
      watcher.kill("SIGINT");
      await new Promise((resolve) => watcher.once("exit", resolve));
    }
  });
});
