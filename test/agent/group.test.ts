// The group rules on their own (src/agent/group.ts), with real processes: which process gets
// SIGTERM first, and that what is left of the group is signalled once the leader has exited.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stopAgentGroup, workerOf } from "../../src/agent/group.js";
import { groupMembers } from "../../src/agent/proc.js";
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

afterEach(async () => {
  const left = standinProcesses();
  await killStrayStandins();
  expect(left).toEqual([]);
});

/** Starts `command` in a process group of its own, as the supervisor does; its pid is the group's. */
async function group(command: string, args: string[]) {
  const record = join(await tempDir(), "starts.jsonl");
  const child = spawn(command, args, {
    detached: true,
    stdio: "ignore",
    env: { PATH: process.env.PATH, STANDIN_RECORD: record, STANDIN_NODE: process.execPath },
  });
  const [start] = await waitFor(
    "the agent's start",
    () => recordedStarts(record).at(0) && recordedStarts(record),
  );
  return { pgid: child.pid as number, record, agent: start?.pid as number };
}

describe("stopAgentGroup", () => {
  it("finds the worker behind a wrapper (a grandchild) and signals it first", async () => {
    const g = await group(WRAPPER, ["--node=g"]);
    expect(workerOf(g.pgid)).toBe(g.agent);
    expect(await stopAgentGroup(g.pgid, 800)).toBe("terminated");
    expect(recordedGracefulStops(g.record)).toEqual([g.agent]);
    expect(groupMembers(g.pgid)).toEqual([]);
  });

  it("a wrapper that does not exec: once it has exited, its agent gets SIGTERM at once", async () => {
    // 800 ms is less than the parent's grace: only a SIGTERM sent when the wrapper exits leaves
    // the agent time to stop through its handler before the SIGKILL.
    const g = await group(WRAPPER, ["--node=g", "--standin-no-reexec"]);
    expect(workerOf(g.pgid)).toBeUndefined();
    expect(await stopAgentGroup(g.pgid, 800)).toBe("terminated");
    expect(recordedGracefulStops(g.record)).toEqual([g.agent]);
  });

  it("the leader already gone (killed alone): its worker is found in the group and stopped", async () => {
    const g = await group(STANDIN, ["--node=g"]);
    process.kill(g.pgid, "SIGKILL");
    await waitFor("the leader gone", () => !groupMembers(g.pgid).includes(g.pgid));
    expect(workerOf(g.pgid)).toBe(g.agent);
    expect(await stopAgentGroup(g.pgid, 5000)).not.toBe("none");
    expect(groupMembers(g.pgid)).toEqual([]);
  });

  it("a group that ignores SIGTERM is SIGKILLed when the stop timeout has passed", async () => {
    const g = await group(STANDIN, ["--node=g", "--standin-ignore-term"]);
    expect(await stopAgentGroup(g.pgid, 300)).toBe("killed");
    expect(groupMembers(g.pgid)).toEqual([]);
  });
});
