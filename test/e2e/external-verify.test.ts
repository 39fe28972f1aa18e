// External mode, verified: the agent a service manager runs is found through --agent-unit or
// --agent-pidfile (never signalled through them) and compared with what was rendered.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { groupMembers } from "../../src/agent/proc.js";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { afterTest, cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

const SYSTEMCTL = fileURLToPath(new URL("../support/commands/systemctl.mjs", import.meta.url));
cleanUpAfterEach();

/** A directory with the stand-in systemctl as `systemctl`, and the unit's state. */
async function unit(extra = "") {
  const dir = await tempDir();
  const bin = join(dir, "bin");
  await mkdir(bin);
  await writeFile(
    join(bin, "systemctl"),
    `#!/bin/sh\nexec "${process.execPath}" "${SYSTEMCTL}" "$@"\n`,
  );
  await chmod(join(bin, "systemctl"), 0o755);
  const flagsFile = join(dir, "agent.flags");
  const env = {
    PATH: `${bin}:${process.env.PATH}`,
    STANDIN_UNITS: dir,
    STANDIN_UNIT_FLAGS: flagsFile,
    STANDIN_UNIT_EXTRA: extra,
  };
  // The unit's agent is stopped after the test, whatever happened.
  afterTest(async () => {
    const pid = Number(
      (await readFile(join(dir, "parca-agent.pid"), "utf8").catch(() => "0")).trim(),
    );
    if (pid > 1) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // gone already
      }
      await waitFor("the unit's agent gone", () => groupMembers(pid).length === 0);
    }
  });
  return { dir, flagsFile, env, pidfile: join(dir, "parca-agent.pid") };
}

async function external(u: Awaited<ReturnType<typeof unit>>, restart: string, locate: string[]) {
  const relation = join(u.dir, "relation.json");
  const store = await startStore();
  await writeRelation(relation, plaintext(store.address));
  const sc = await startSidecar(
    [
      ...["--relation", relation, "--state-dir", join(u.dir, "state"), "--mode", "external"],
      ...["--flags-file", u.flagsFile, "--restart-command", restart, "--on-remove", "keep"],
      ...locate,
      "--",
      "--node=n1",
    ],
    u.env,
  );
  return { sc, relation };
}

describe("external mode, verified", () => {
  it("--agent-unit: the unit's new main process runs the rendered flags", async () => {
    const u = await unit();
    const { sc, relation } = await external(u, "systemctl restart parca-agent", [
      "--agent-unit",
      "parca-agent",
    ]);
    const first = await sc.waitStatus(
      "RUNNING",
      (s) => s.phase === Phase.RUNNING && (s.agent?.pid ?? 0) > 0,
    );
    expect(first.agent?.problem).toBeUndefined();
    expect(Number((await readFile(u.pidfile, "utf8")).trim())).toBe(first.agent?.pid);
    const other = await startStore();
    await writeRelation(relation, plaintext(other.address));
    const second = await sc.waitStatus(
      "restarted",
      (s) => s.applied?.address === other.address && s.agent?.pid !== first.agent?.pid,
    );
    expect(second.phase).toBe(Phase.RUNNING);
    expect(second.agent?.problem).toBeUndefined();
  });

  it("a restart command that exits 0 but restarts nothing: AGENT_NOT_RESTARTED, DEGRADED, not ready", async () => {
    const u = await unit();
    await writeFile(u.flagsFile, "--node=n1\n");
    const { execFileSync } = await import("node:child_process");
    execFileSync(join(u.dir, "bin", "systemctl"), ["restart", "parca-agent"], {
      env: { ...process.env, ...u.env },
    });
    const { sc } = await external(u, "true", ["--agent-unit", "parca-agent"]);
    const st = await sc.waitStatus(
      "AGENT_NOT_RESTARTED",
      (s) => s.agent?.problem?.code === "AGENT_NOT_RESTARTED",
      20_000,
    );
    expect(st.phase).toBe(Phase.DEGRADED);
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
  });

  it("--agent-pidfile: a unit that adds its own store flag is AGENT_ARGS_DRIFT naming the flag", async () => {
    const u = await unit("--remote-store-address=10.9.9.9:7070");
    const { sc } = await external(u, "systemctl restart parca-agent", [
      "--agent-pidfile",
      u.pidfile,
    ]);
    const st = await sc.waitStatus(
      "AGENT_ARGS_DRIFT",
      (s) => s.agent?.problem?.code === "AGENT_ARGS_DRIFT",
    );
    expect(st.agent?.problem?.message).toContain("--remote-store-address");
    expect(st.phase).toBe(Phase.DEGRADED);
    expect(await sc.health("readiness")).toBe(Serving.NOT_SERVING);
  });

  it("without --agent-pidfile or --agent-unit, status says the running agent is not verified", async () => {
    const u = await unit();
    const { sc } = await external(u, "systemctl restart parca-agent", []);
    const st = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    expect(st.message).toContain("not verified");
  });
});
