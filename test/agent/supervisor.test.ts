import { spawn } from "node:child_process";
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { groupMembers, isLive } from "../../src/agent/proc.js";
import type { Launch, RunnerEvent } from "../../src/agent/runner.js";
import { Supervisor } from "../../src/agent/supervisor.js";
import { type Backoff, backoffDelay } from "../../src/core/backoff.js";
import type { Secrets } from "../../src/secrets.js";
import { capturedLogger } from "../support/logs.js";
import {
  killStrayStandins,
  recordedGracefulStops,
  recordedStarts,
  STANDIN,
  standinProcesses,
  WRAPPER,
  waitFor,
} from "../support/procs.js";
import { tempDir } from "../support/tmp.js";

const running: Supervisor[] = [];
const children: ReturnType<typeof spawn>[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  for (const c of children.splice(0)) c.kill("SIGKILL");
  // No test may leave an agent behind: assert, then clean up so one failure does not cascade.
  const left = standinProcesses();
  await killStrayStandins();
  expect(left).toEqual([]);
});

interface Harness {
  supervisor: Supervisor;
  record: string;
  stateDir: string;
  lines: string[];
  logs: string[];
  events: RunnerEvent[];
  secrets: Secrets;
}

/** The first start the stand-in recorded, once it has. */
function firstStart(record: string) {
  return waitFor("the agent's first start", () => recordedStarts(record).at(0));
}

async function harness(
  options: {
    stopTimeoutMs?: number;
    backoff?: Backoff;
    env?: NodeJS.ProcessEnv;
    agentPath?: string;
  } = {},
): Promise<Harness> {
  const dir = await tempDir();
  const stateDir = realpathSync(dir);
  const record = join(dir, "starts.jsonl");
  const lines: string[] = [];
  const { log, lines: logs, secrets } = capturedLogger();
  const supervisor = new Supervisor({
    agentPath: options.agentPath ?? STANDIN,
    stateDir,
    stopTimeoutMs: options.stopTimeoutMs ?? 5000,
    env: {
      PATH: process.env.PATH,
      STANDIN_RECORD: record,
      STANDIN_NODE: process.execPath,
      ...options.env,
    },
    log,
    secrets,
    backoff: options.backoff ?? { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 },
    output: (stream, line) => lines.push(`${stream}: ${line}`),
  });
  running.push(supervisor);
  const events: RunnerEvent[] = [];
  supervisor.subscribe((e) => events.push(e));
  return { supervisor, record, stateDir, lines, logs, events, secrets };
}

function launch(argv: string[], extra: Partial<Launch> = {}): Launch {
  return { store: { address: "127.0.0.1:7070", insecure: true }, argv, unsetEnv: [], ...extra };
}

describe("Supervisor", () => {
  it("runs the agent in its own process group with the state marker, and reports it", async () => {
    const h = await harness();
    await h.supervisor.apply(launch(["--node=n1", "--remote-store-address=127.0.0.1:7070"]));
    const start = await firstStart(h.record);
    const snap = h.supervisor.snapshot();
    expect(snap.state).toBe("RUNNING");
    expect(snap.pid).toBeGreaterThan(0);
    expect(start?.pgid).toBe(snap.pid); // the leader's pid is the group id
    expect(start?.ppid).toBe(snap.pid); // the recorded process is the re-executed child
    expect(start?.marker).toBe(h.stateDir);
    expect(start?.argv).toEqual(["--node=n1", "--remote-store-address=127.0.0.1:7070"]);
    const pidfile = JSON.parse(readFileSync(join(h.stateDir, "agent.pid"), "utf8"));
    expect(pidfile).toMatchObject({ pid: snap.pid, pgid: snap.pid });
    expect(pidfile.startTime).toMatch(/^\d+$/);
    expect(statSync(join(h.stateDir, "agent.pid")).mode & 0o777).toBe(0o600);
    await waitFor("forwarded output", () =>
      h.lines.some((l) => l.startsWith("stdout: agent running")),
    );
    await h.supervisor.stop();
    expect(h.supervisor.snapshot().state).toBe("STOPPED");
    expect(existsSync(join(h.stateDir, "agent.pid"))).toBe(false);
    expect(groupMembers(snap.pid)).toEqual([]);
  });

  it("after N restarts exactly one agent (parent + re-executed child) is alive", async () => {
    const h = await harness();
    for (let i = 0; i < 5; i++) {
      await h.supervisor.apply(launch([`--node=n${i}`]));
      await waitFor(`start ${i + 1}`, () => recordedStarts(h.record).length === i + 1);
    }
    const alive = standinProcesses();
    expect(alive).toHaveLength(2);
    expect(alive.every((p) => p.argv.includes("--node=n4"))).toBe(true);
    expect(h.supervisor.snapshot().restarts).toBe(4);
  });

  it("stops gracefully: the worker first, through its living parent, on every restart and at stop", async () => {
    const h = await harness();
    await h.supervisor.apply(launch(["--node=a"]));
    await waitFor("a's start", () => recordedStarts(h.record).length === 1);
    await h.supervisor.apply(launch(["--node=b"]));
    await waitFor("b's start", () => recordedStarts(h.record).length === 2);
    await h.supervisor.stop();
    const workers = recordedStarts(h.record).map((start) => start.pid);
    expect(recordedGracefulStops(h.record)).toEqual(workers);
    expect(h.lines).toContain("stderr: agent shutting down");
    expect(h.logs.join("")).toContain('"how":"terminated"');
  });

  it("follows the leader's exit, not its output: a leader killed alone is a crash, its worker stopped", async () => {
    const h = await harness({ stopTimeoutMs: 300 });
    await h.supervisor.apply(launch(["--node=a"]));
    const first = await firstStart(h.record);
    const leader = h.supervisor.snapshot().pid;
    process.kill(leader, "SIGKILL");
    // The worker lives on and holds the output pipes; the leader's exit decides.
    await waitFor("the crash", () => h.events.some((e) => e.type === "exit"));
    const crashed = h.supervisor.snapshot();
    expect(crashed.state).toBe("BACKOFF");
    expect(crashed.running).toBe(false);
    expect(crashed.lastExit?.signal).toBe("SIGKILL");
    // Within --stop-timeout-ms the orphaned worker is stopped; then the agent is started again.
    await waitFor(
      "the orphan stopped",
      () => !standinProcesses().some((p) => p.pid === first?.pid),
    );
    await waitFor("the restart", () => recordedStarts(h.record).length === 2);
    await waitFor("running again", () => h.supervisor.snapshot().state === "RUNNING");
    expect(standinProcesses()).toHaveLength(2);
    expect(h.supervisor.snapshot().pid).not.toBe(leader);
  });

  it("a worker killed alone takes its parent with it: a crash, restarted", async () => {
    const h = await harness();
    await h.supervisor.apply(launch(["--node=a"]));
    const first = await firstStart(h.record);
    process.kill(first?.pid as number, "SIGKILL");
    await waitFor("the crash", () => h.events.some((e) => e.type === "exit"));
    await waitFor("the restart", () => recordedStarts(h.record).length === 2);
    expect(standinProcesses()).toHaveLength(2);
  });

  it("a worker that dies while its parent lingers (reporting the panic) is the agent's exit: reported at once, the parent stopped, restarted", async () => {
    // The real parent retries its report to the store for up to 5 minutes before it exits.
    const h = await harness({
      env: { STANDIN_REPORT_MS: "120000" },
      backoff: { initialMs: 200, maxMs: 400, resetAfterMs: 60_000 },
    });
    await h.supervisor.apply(launch(["--node=a", "--standin-crash-after-ms=300"]));
    const first = await firstStart(h.record);
    const leader = h.supervisor.snapshot().pid;
    const exit = await waitFor("the worker's exit reported", () =>
      h.events.find((e) => e.type === "exit"),
    );
    expect(exit.type === "exit" && exit.exit.worker).toBe(true);
    expect(first?.ppid).toBe(leader);
    expect(exit.type === "exit" && exit.exit.stderrTail).toContain("panic: stand-in crash");
    // The lingering parent is stopped, and a new agent started after the backoff.
    await waitFor("the parent stopped", () => groupMembers(leader).length === 0);
    await waitFor("the restart", () => recordedStarts(h.record).length >= 2);
    expect(h.logs.join("")).toContain("the agent's worker exited");
  });

  it("a SIGKILLed leader whose worker lives on: the worker stopped at once, not after the stop timeout; restarted after the backoff", async () => {
    const h = await harness({
      stopTimeoutMs: 120_000,
      backoff: { initialMs: 3000, maxMs: 3000, resetAfterMs: 60_000 },
    });
    await h.supervisor.apply(launch(["--node=a"]));
    const first = await firstStart(h.record);
    const leader = h.supervisor.snapshot().pid;
    process.kill(leader, "SIGKILL");
    await waitFor("the crash", () => h.events.some((e) => e.type === "exit"));
    await waitFor("the worker stopped", () => !isLive(first?.pid as number));
    // Gone while the restart still waits for its backoff: nothing waited for it to exit.
    expect(recordedStarts(h.record)).toHaveLength(1);
    expect(h.supervisor.snapshot()).toMatchObject({ state: "BACKOFF", running: false, pid: 0 });
    expect(groupMembers(leader)).toEqual([]);
    await waitFor("the restart", () => recordedStarts(h.record).length === 2);
    await waitFor("running again", () => h.supervisor.snapshot().state === "RUNNING");
    const now = h.supervisor.snapshot().pid;
    expect(isLive(now)).toBe(true);
    expect(groupMembers(now)).toHaveLength(2);
  });

  it("a wrapper that does not exec: its agent is SIGTERMed once the wrapper exits, and stops gracefully", async () => {
    // A stop timeout shorter than the parent's grace: only a SIGTERM sent at once leaves the
    // agent time to shut down through its handler rather than being SIGKILLed.
    const h = await harness({ agentPath: WRAPPER, stopTimeoutMs: 800 });
    await h.supervisor.apply(launch(["--node=a", "--standin-no-reexec"]));
    const agent = await firstStart(h.record);
    const wrapper = h.supervisor.snapshot().pid;
    expect(agent?.ppid).toBe(wrapper);
    await h.supervisor.stop();
    expect(recordedGracefulStops(h.record)).toEqual([agent?.pid]);
    expect(groupMembers(wrapper)).toEqual([]);
    expect(h.logs.join("")).toContain('"how":"terminated"');
  });

  it("a wrapper around a re-executing agent: the worker, a grandchild, is signalled first", async () => {
    // As above: a group-wide SIGTERM after the parent's grace would come too late.
    const h = await harness({ agentPath: WRAPPER, stopTimeoutMs: 800 });
    await h.supervisor.apply(launch(["--node=a"]));
    const worker = await firstStart(h.record);
    const wrapper = h.supervisor.snapshot().pid;
    expect(worker?.pgid).toBe(wrapper);
    expect(worker?.ppid).not.toBe(wrapper);
    await h.supervisor.stop();
    // It shut down through its handler while its parent lived: it was signalled first.
    expect(recordedGracefulStops(h.record)).toEqual([worker?.pid]);
    expect(groupMembers(wrapper)).toEqual([]);
  });

  it("an agent that cannot be started is AGENT_START_FAILED with its cause, never running, retried", async () => {
    const dir = await tempDir();
    const { log, secrets } = capturedLogger("silent");
    const supervisor = new Supervisor({
      agentPath: join(dir, "no-such-agent"),
      stateDir: realpathSync(dir),
      stopTimeoutMs: 1000,
      env: { PATH: process.env.PATH },
      log,
      secrets,
      backoff: { initialMs: 30, maxMs: 60, resetAfterMs: 60_000 },
    });
    running.push(supervisor);
    let exits = 0;
    supervisor.subscribe((e) => {
      if (e.type === "exit") exits++;
    });
    await supervisor.apply(launch(["--node=a"]));
    const snap = supervisor.snapshot();
    expect(snap.problem?.code).toBe("AGENT_START_FAILED");
    expect(snap.problem?.message).toContain("ENOENT");
    expect(snap.problem?.hint).toContain("--agent");
    expect(snap.running).toBe(false);
    await waitFor("retries", () => exits >= 3);
    expect(supervisor.snapshot().running).toBe(false);
    expect(supervisor.snapshot().restarts).toBe(0);
  });

  it("SIGKILLs a group that ignores SIGTERM after the stop timeout", async () => {
    const h = await harness({ stopTimeoutMs: 300 });
    await h.supervisor.apply(launch(["--standin-ignore-term"]));
    await waitFor("the agent's start", () => recordedStarts(h.record).length === 1);
    const pid = h.supervisor.snapshot().pid;
    await h.supervisor.stop();
    expect(groupMembers(pid)).toEqual([]);
    expect(h.logs.join("")).toContain('"how":"killed"');
  });

  it("restarts a crashing agent with a growing backoff that resets after enough uptime", async () => {
    const h = await harness({ backoff: { initialMs: 40, maxMs: 2000, resetAfterMs: 600 } });
    // One launch: four quick crashes, then one after 700 ms of uptime (past resetAfterMs).
    await h.supervisor.apply(launch(["--standin-crash-after-ms=0,0,0,0,700,0"]));
    await waitFor("five crashes", () => h.events.filter((e) => e.type === "exit").length >= 5);
    const exits = h.logs.map((l) => JSON.parse(l)).filter((e) => e.event === "agent_exited");
    const delays = exits.map((e) => e.restartInMs as number);
    // 40, 80, 160, 320 ms, each ±20 %; then, after a long run, 40 ms again.
    const schedule = [40, 80, 160, 320, 40];
    for (const [i, ms] of schedule.entries()) {
      expect(delays[i]).toBeGreaterThanOrEqual(ms * 0.8);
      expect(delays[i]).toBeLessThanOrEqual(ms * 1.2);
    }
    expect(exits[4]?.uptimeMs).toBeGreaterThanOrEqual(600);
    expect(exits.slice(0, 5).map((e) => e.crashes)).toEqual([1, 2, 3, 4, 1]);
    expect(recordedStarts(h.record).length).toBeGreaterThanOrEqual(5); // one launch, restarted by the backoff alone
    const snap = h.supervisor.snapshot();
    expect(snap.lastExit?.code).toBe(3);
    expect(snap.lastExit?.stderrTail.at(-1)).toBe("panic: stand-in crash");
  });

  it("an agent that refuses an unknown flag exits at once; its stderr is kept", async () => {
    const h = await harness();
    await h.supervisor.apply(launch(["--no-such-flag=1"]));
    const exit = await waitFor("the exit", () => h.events.find((e) => e.type === "exit"));
    expect(exit.type === "exit" && exit.exit.code).toBe(80);
    expect(exit.type === "exit" && exit.uptimeMs).toBeLessThan(10_000);
    expect(h.supervisor.snapshot().lastExit?.stderrTail).toContain(
      "parca-agent: error: unknown flag --no-such-flag",
    );
    expect(["BACKOFF", "STARTING", "RUNNING"]).toContain(h.supervisor.snapshot().state);
  });

  it("reports a missing agent binary and keeps retrying", async () => {
    const h = await harness();
    const missing = new Supervisor({
      ...(h.supervisor as unknown as { options: ConstructorParameters<typeof Supervisor>[0] })
        .options,
      agentPath: "/nonexistent/parca-agent",
    });
    running.push(missing);
    const events: RunnerEvent[] = [];
    missing.subscribe((e) => events.push(e));
    await missing.apply(launch([]));
    expect(missing.snapshot().state).toBe("BACKOFF");
    expect(missing.snapshot().error).toContain("/nonexistent/parca-agent");
    await waitFor("a retry", () => events.filter((e) => e.type === "exit").length >= 2);
  });

  it("writes the token file 0600 before the agent starts and drops PARCA_BEARER_TOKEN", async () => {
    const h = await harness({ env: { PARCA_BEARER_TOKEN: "operator-token" } });
    const path = join(h.stateDir, "bearer-token");
    await h.supervisor.apply(
      launch([`--remote-store-bearer-token-file=${path}`], {
        tokenFile: { path, content: "relation-token" },
        unsetEnv: ["PARCA_BEARER_TOKEN"],
      }),
    );
    const [start] = await waitFor(
      "the start",
      () => recordedStarts(h.record).length > 0 && recordedStarts(h.record),
    );
    expect(start?.tokenFromFile).toBe("relation-token");
    expect(start?.envToken).toBeUndefined();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(start?.argv.join(" ")).not.toContain("relation-token");
  });

  it("scrubs the token from the agent's forwarded output and its stderr tail", async () => {
    const h = await harness();
    h.secrets.add("flag-token-123");
    await h.supervisor.apply(launch(["--remote-store-bearer-token=flag-token-123"]));
    await waitFor("output", () => h.lines.some((l) => l.includes("agent running")));
    expect(h.lines.join("\n")).not.toContain("flag-token-123");
    expect(h.lines.join("\n")).toContain("--remote-store-bearer-token=<redacted>");
    expect(h.supervisor.snapshot().args).toEqual(["--remote-store-bearer-token=<redacted>"]);
    expect(h.logs.join("")).not.toContain("flag-token-123");
  });
});

describe("a sidecar killed with SIGKILL", () => {
  const HARNESS = fileURLToPath(new URL("../support/supervise-harness.mjs", import.meta.url));

  function startHarness(stateDir: string, record: string, argv: string[]) {
    const child = spawn(process.execPath, [HARNESS, stateDir, STANDIN, ...argv], {
      env: { PATH: process.env.PATH, STANDIN_RECORD: record },
      stdio: ["ignore", "pipe", "ignore"],
    });
    children.push(child);
    const ready = new Promise<{ reaped: number[] }>((resolve, reject) => {
      child.stdout?.once("data", (d: Buffer) => resolve(JSON.parse(d.toString())));
      child.once("exit", (code) => reject(new Error(`harness exited ${code}`)));
    });
    return { child, ready };
  }

  it("leaves an orphan that the next sidecar on the same state dir stops", async () => {
    const dir = await tempDir();
    const record = join(dir, "starts.jsonl");
    const first = startHarness(dir, record, ["--node=first"]);
    await first.ready;
    const [orphan] = await waitFor(
      "first agent",
      () => recordedStarts(record).length === 1 && recordedStarts(record),
    );
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    expect(groupMembers(orphan?.pgid ?? 0).length).toBe(2); // the agent outlives its sidecar
    const second = startHarness(dir, record, ["--node=second"]);
    expect((await second.ready).reaped).toEqual([orphan?.pgid]);
    await waitFor("second agent", () => recordedStarts(record).length === 2);
    expect(groupMembers(orphan?.pgid ?? 0)).toEqual([]);
    const alive = standinProcesses();
    expect(alive).toHaveLength(2);
    expect(alive.every((p) => p.argv.includes("--node=second"))).toBe(true);
    second.child.kill("SIGTERM");
    await new Promise((resolve) => second.child.once("exit", resolve));
    await waitFor("all agents gone", () => standinProcesses().length === 0);
  });

  it("finds an agent by its state marker when there is no pidfile, and spares others", async () => {
    const dir = await tempDir();
    const other = await tempDir();
    const record = join(dir, "starts.jsonl");
    // An agent of another state dir, and one of ours whose pidfile was never written.
    const foreign = spawn(STANDIN, ["--node=foreign"], {
      env: { PATH: process.env.PATH, PARCA_AGENT_SIDECAR_STATE: realpathSync(other) },
      detached: true,
      stdio: "ignore",
    });
    const ours = spawn(STANDIN, ["--node=ours"], {
      env: {
        PATH: process.env.PATH,
        PARCA_AGENT_SIDECAR_STATE: realpathSync(dir),
        STANDIN_RECORD: record,
      },
      detached: true,
      stdio: "ignore",
    });
    await waitFor("our orphan", () => recordedStarts(record).length === 1);
    const h = startHarness(dir, record, ["--node=next"]);
    expect((await h.ready).reaped).toEqual([ours.pid]);
    expect(groupMembers(foreign.pid ?? 0).length).toBeGreaterThan(0);
    process.kill(-(foreign.pid ?? 0), "SIGKILL");
    h.child.kill("SIGTERM");
    await new Promise((resolve) => h.child.once("exit", resolve));
  });
});

describe("backoffDelay", () => {
  it("doubles from the initial delay to the cap, with ±20 % jitter", () => {
    const b = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 };
    expect([0, 1, 2, 3, 6, 7, 20].map((n) => backoffDelay(n, b, () => 0.5))).toEqual([
      1000, 2000, 4000, 8000, 60_000, 60_000, 60_000,
    ]);
    expect(backoffDelay(0, b, () => 0)).toBe(800);
    expect(backoffDelay(0, b, () => 1)).toBe(1200);
    expect(backoffDelay(10, b, () => 1)).toBe(60_000);
  });
});
