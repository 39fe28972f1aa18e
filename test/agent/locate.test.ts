// Finding an externally managed agent and comparing what runs with what was rendered.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatFlagsFile } from "../../src/agent/flags-file.js";
import { AgentLocator } from "../../src/agent/locate.js";
import type { Launch } from "../../src/agent/runner.js";
import { killStrayStandins, STANDIN, waitFor } from "../support/procs.js";
import { tempDir } from "../support/tmp.js";

afterEach(async () => {
  await killStrayStandins();
});

const launch: Launch = {
  store: { address: "127.0.0.1:7070", insecure: true },
  argv: ["--node=n1", "--remote-store-address=127.0.0.1:7070", "--remote-store-insecure=true"],
  unsetEnv: [],
};

async function agentWith(args: string[], dir: string): Promise<string> {
  const child = spawn(process.execPath, [STANDIN, "--standin-no-reexec", ...args], {
    detached: true,
    stdio: "ignore",
    env: { PATH: process.env.PATH },
  });
  child.unref();
  const pidfile = join(dir, "agent.pid");
  await writeFile(pidfile, `${child.pid}\n`);
  await waitFor("the agent's argv", async () => {
    const { cmdline } = await import("../../src/agent/proc.js");
    return cmdline(child.pid as number)?.includes(args.at(-1) as string);
  });
  return pidfile;
}

describe("AgentLocator", () => {
  it("yaml: the agent reads the flags file, carries no managed flag, and the file holds what was rendered", async () => {
    const dir = await tempDir();
    const file = join(dir, "agent.yaml");
    await writeFile(file, formatFlagsFile("yaml", launch));
    const pidfile = await agentWith(["--node=n1", `--config-path=${file}`], dir);
    const locator = new AgentLocator({ kind: "pidfile", path: pidfile }, { file, format: "yaml" });
    expect((await locator.now(launch)).problem).toBeUndefined();
    await writeFile(file, "remote-store-address: edited.example:7070\n");
    const edited = await locator.now(launch);
    expect(edited.problem?.code).toBe("AGENT_ARGS_DRIFT");
    expect(edited.problem?.message).toContain(`the flags in ${file}`);
  });

  it("args: drift names the flags; a pid that is gone is AGENT_NOT_FOUND", async () => {
    const dir = await tempDir();
    const pidfile = await agentWith(["--node=n1", "--remote-store-address=10.0.0.1:7070"], dir);
    const locator = new AgentLocator(
      { kind: "pidfile", path: pidfile },
      { file: join(dir, "f"), format: "args" },
    );
    const drift = await locator.now(launch);
    expect(drift.problem?.code).toBe("AGENT_ARGS_DRIFT");
    expect(drift.problem?.message).toContain("--remote-store-address, --remote-store-insecure");
    await writeFile(pidfile, "999999\n");
    expect((await locator.now(launch)).problem?.code).toBe("AGENT_NOT_FOUND");
  });
});
