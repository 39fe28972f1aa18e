// The pod's agent is found by name, by the flags file it reads, and by the pod's cgroup; the
// options that make no sense with it are refused; the operator's base config is kept.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { formatFlagsFile, parseConfigBase } from "../../src/agent/flags-file.js";
import { findPodAgent } from "../../src/agent/pod.js";
import { Options, parseCommandLine } from "../../src/cli/options.js";
import { runConfig } from "../../src/cli/run-config.js";
import { STANDIN, waitFor } from "../support/procs.js";
import { tempDir } from "../support/tmp.js";

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

function agent(args: string[], argv0 = "parca-agent"): number {
  const child = spawn(process.execPath, [STANDIN, ...args], {
    argv0,
    stdio: "ignore",
    detached: true,
  });
  started.push(child.pid as number);
  return child.pid as number;
}

const POD_UID = "7d3e9f2a-5b1c-4e8d-9a6f-0c2b4d6e8f10";

/**
 * Puts `pid` in a real cgroup named as the kubelet's systemd driver names a pod's
 * (`kubepods-pod<uid with _>.slice`), beside this process's own memory (v1) or unified (v2)
 * cgroup; returns how to put it back and remove that cgroup.
 */
function intoPodCgroup(pid: number, uid: string): () => void {
  const lines = readFileSync("/proc/self/cgroup", "utf8").trim().split("\n");
  const v1 = lines.find((l) => l.split(":")[1] === "memory");
  const [mount, own] = v1
    ? ["/sys/fs/cgroup/memory", v1.split(":")[2] ?? "/"]
    : ["/sys/fs/cgroup", lines.find((l) => l.startsWith("0::"))?.slice(3) ?? "/"];
  const home = join(mount, own);
  const pod = join(home, `kubepods-pod${uid.replaceAll("-", "_")}.slice`);
  mkdirSync(pod);
  writeFileSync(join(pod, "cgroup.procs"), String(pid));
  return () => {
    try {
      writeFileSync(join(home, "cgroup.procs"), String(pid));
    } catch {
      // gone: its cgroup empties by itself
    }
    rmdirSync(pod);
  };
}

const config = (args: string[]) => runConfig(new Options(parseCommandLine("run", args, {})), false);
const POD = ["--relation", "/r", "--mode", "external", "--flags-file", "/shared/agent.yaml"];

describe("--agent-process", () => {
  it("matches argv[0] and --config-path; the worker is not a second match; the pod's cgroup decides", async () => {
    const dir = await tempDir();
    const file = join(dir, "agent.yaml");
    // The stand-in's worker reads its --config-path at start: with no file it would exit at once
    // and take its parent with it, so the matches would only be seen by luck.
    writeFileSync(file, "{}\n");
    writeFileSync(join(dir, "other.yaml"), "{}\n");
    const pid = agent([`--config-path=${file}`]);
    agent([`--config-path=${join(dir, "other.yaml")}`]);
    agent([`--config-path=${file}`], "not-the-agent");
    const spec = { name: "parca-agent", flagsFile: file };
    const found = await waitFor("the agent and its worker", () => {
      const m = findPodAgent(spec);
      return m.kind === "one" ? m : undefined;
    });
    expect(found.agent.pid).toBe(pid);
    // A pod UID its cgroup does not name: not this pod's agent.
    expect(findPodAgent({ ...spec, podUid: "3f1c2a9e-0000-4000-8000-000000000000" })).toEqual({
      kind: "none",
    });
    // Once it runs in the pod's cgroup, that pod's UID finds it.
    expect(findPodAgent({ ...spec, podUid: POD_UID })).toEqual({ kind: "none" });
    const leave = intoPodCgroup(pid, POD_UID);
    try {
      expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain("kubepods-pod7d3e9f2a_5b1c");
      const inPod = findPodAgent({ ...spec, podUid: POD_UID });
      expect(inPod.kind === "one" && inPod.agent.pid).toBe(pid);
    } finally {
      leave();
    }
    // Two agents reading the same file: ambiguous, nothing to signal.
    const twin = agent([`--config-path=${file}`]);
    const many = await waitFor("two matches", () => {
      const m = findPodAgent(spec);
      return m.kind === "many" ? m : undefined;
    });
    expect([...many.pids].sort()).toEqual([pid, twin].sort());
  });

  it("refuses --on-remove stop, a restart command, and a format the agent cannot read as --config-path", () => {
    const ok = config([
      ...POD,
      "--agent-process",
      "parca-agent",
      "--flags-format",
      "yaml",
      "--on-remove",
      "keep",
    ]);
    expect(ok.agentLocation).toEqual({
      kind: "process",
      spec: { name: "parca-agent", flagsFile: "/shared/agent.yaml" },
    });
    expect(ok.restartWaitMs).toBe(330_000);
    expect(() =>
      config([...POD, "--agent-process", "parca-agent", "--flags-format", "yaml"]),
    ).toThrow(/use --on-remove keep/);
    expect(() => config([...POD, "--agent-process", "parca-agent", "--on-remove", "keep"])).toThrow(
      /needs --flags-format yaml/,
    );
    expect(() =>
      config([
        ...POD,
        ...["--agent-process", "parca-agent", "--flags-format", "yaml", "--on-remove", "keep"],
        ...["--restart-command", "systemctl restart parca-agent"],
      ]),
    ).toThrow(/give no --restart-command/);
    expect(() =>
      config(["--relation", "/r", "--agent-process", "parca-agent", "--on-remove", "keep"]),
    ).toThrow(/are for --mode external/);
  });
});

describe("--agent-config-base", () => {
  const launch = (token?: string) => ({
    store: { address: "10.0.0.5:7070", insecure: false, ...(token ? { token } : {}) },
    argv: [],
    unsetEnv: [],
  });

  it("keeps the operator's keys, sets the managed ones on top; a relation token replaces the base's", () => {
    const base = parseConfigBase(
      'relabel_configs:\n  - target_label: x\nremote-store-address: "old:1"\nremote-store-bearer-token-file: /etc/t\nnode: n1\n',
    );
    expect(parse(formatFlagsFile("yaml", launch(), base))).toEqual({
      relabel_configs: [{ target_label: "x" }],
      "remote-store-address": "10.0.0.5:7070",
      "remote-store-bearer-token-file": "/etc/t",
      node: "n1",
      "remote-store-insecure": false,
    });
    const withToken = parse(formatFlagsFile("yaml", launch("relation-token"), base));
    expect(withToken["remote-store-bearer-token"]).toBe("relation-token");
    expect(withToken["remote-store-bearer-token-file"]).toBeUndefined();
    expect(() => parseConfigBase("- a\n- b\n")).toThrow(/not a YAML mapping/);
    expect(parseConfigBase("")).toEqual({});
  });
});
