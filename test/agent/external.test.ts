import { existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CommandSyntaxError, splitCommand } from "../../src/agent/command.js";
import { type ExternalOptions, ExternalRunner } from "../../src/agent/external.js";
import { renderFlags } from "../../src/agent/flags.js";
import { type FlagsFormat, FlagsFormatError, formatFlagsFile } from "../../src/agent/flags-file.js";
import { isLive } from "../../src/agent/proc.js";
import type { Launch } from "../../src/agent/runner.js";
import { ApplyError } from "../../src/agent/runner.js";
import type { StoreConfig } from "../../src/relation/types.js";
import { capturedLogger } from "../support/logs.js";
import { waitFor } from "../support/procs.js";
import { tempDir } from "../support/tmp.js";

const RECORD_SH = fileURLToPath(new URL("../support/commands/record.sh", import.meta.url));

function launchFor(
  store: StoreConfig,
  base: string[] = ["--node=n1"],
  tokenMode: "flag" | "file" = "flag",
): Launch {
  const rendered = renderFlags(base, store, { tokenMode, stateDir: "/var/lib/pas" });
  return {
    store,
    argv: rendered.argv,
    unsetEnv: rendered.unsetEnv,
    ...(rendered.tokenFile ? { tokenFile: rendered.tokenFile } : {}),
  };
}

async function runner(
  format: FlagsFormat,
  extra: Partial<ExternalOptions> = {},
  extraEnv: NodeJS.ProcessEnv = {},
) {
  const dir = await tempDir();
  const record = join(dir, "commands.log");
  const { log, lines: logs, secrets } = capturedLogger("info");
  const options: ExternalOptions = {
    flagsFile: join(dir, "parca-agent.flags"),
    format,
    restartCommand: [RECORD_SH, "restart", "parca-agent"],
    commandTimeoutMs: 10_000,
    env: { PATH: process.env.PATH, RECORD: record, ...extraEnv },
    log,
    secrets,
    ...extra,
  };
  const r = new ExternalRunner(options);
  const commands = () =>
    readFile(record, "utf8").then(
      (t) => t.split("\n").filter(Boolean),
      () => [] as string[],
    );
  return { r, dir, options, commands, logs, secrets };
}

const PLAIN: StoreConfig = { address: "10.0.0.5:7070", insecure: true };
const TOKEN: StoreConfig = {
  address: "parca.example.com:443",
  insecure: false,
  token: 's3cr"et\\x',
};

describe("flags file formats", () => {
  it("args: one argv element a line", () => {
    expect(formatFlagsFile("args", launchFor(PLAIN))).toBe(
      "--node=n1\n--remote-store-address=10.0.0.5:7070\n--remote-store-insecure=true\n",
    );
  });

  it("env: one systemd EnvironmentFile variable, quotes and backslashes escaped", () => {
    expect(formatFlagsFile("env", launchFor(TOKEN))).toBe(
      'PARCA_AGENT_FLAGS="--node=n1 --remote-store-address=parca.example.com:443 --remote-store-insecure=false --remote-store-bearer-token=s3cr\\"et\\\\x"\n',
    );
  });

  it("env: refuses an element holding whitespace, without printing its value", () => {
    const launch = launchFor(PLAIN, ["--node=my node"]);
    expect(() => formatFlagsFile("env", launch)).toThrow(FlagsFormatError);
    expect(() => formatFlagsFile("env", launch)).toThrow(/--node=…/);
  });

  it("yaml: only the managed flags, as a Kong flag file", () => {
    expect(parse(formatFlagsFile("yaml", launchFor(PLAIN)))).toEqual({
      "remote-store-address": "10.0.0.5:7070",
      "remote-store-insecure": true,
    });
    expect(parse(formatFlagsFile("yaml", launchFor(TOKEN)))).toEqual({
      "remote-store-address": "parca.example.com:443",
      "remote-store-insecure": false,
      "remote-store-bearer-token": 's3cr"et\\x',
    });
    expect(parse(formatFlagsFile("yaml", launchFor(TOKEN, [], "file")))).toEqual({
      "remote-store-address": "parca.example.com:443",
      "remote-store-insecure": false,
      "remote-store-bearer-token-file": "/var/lib/pas/bearer-token",
    });
    expect(formatFlagsFile("yaml", launchFor(PLAIN))).toContain(
      'remote-store-address: "10.0.0.5:7070"',
    );
  });
});

describe("ExternalRunner", () => {
  it("writes the flags file 0600 and runs the restart command exactly once per change, with the store in its env", async () => {
    const { r, options, commands } = await runner("args");
    await r.apply(launchFor(PLAIN));
    expect(statSync(options.flagsFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(options.flagsFile, "utf8")).toContain(
      "--remote-store-address=10.0.0.5:7070\n",
    );
    expect(await commands()).toEqual(["restart parca-agent|10.0.0.5:7070|true|"]);
    await r.apply(launchFor(TOKEN));
    expect(await commands()).toEqual([
      "restart parca-agent|10.0.0.5:7070|true|",
      "restart parca-agent|parca.example.com:443|false|token-set",
    ]);
    const snap = r.snapshot();
    expect(snap).toMatchObject({ state: "EXTERNAL", running: true, restarts: 1 });
    expect(snap.args.at(-1)).toBe("--remote-store-bearer-token=<redacted>");
  });

  it("replaces the file atomically: a concurrent reader only ever sees a whole file", async () => {
    const { r, options } = await runner("args", { restartCommand: undefined });
    const stores = Array.from({ length: 40 }, (_, i) => ({
      address: `10.0.0.${i + 1}:7070`,
      insecure: i % 2 === 0,
    }));
    await r.apply(launchFor(stores[0] as StoreConfig));
    let reading = true;
    const seen = new Set<string>();
    const reader = (async () => {
      while (reading) {
        seen.add(await readFile(options.flagsFile, "utf8"));
      }
    })();
    const inodes = new Set<number>();
    for (const store of stores) {
      await r.apply(launchFor(store));
      inodes.add(statSync(options.flagsFile).ino);
    }
    reading = false;
    await reader;
    const whole = new Set(stores.map((s) => formatFlagsFile("args", launchFor(s))));
    for (const content of seen) expect(whole.has(content)).toBe(true);
    expect(inodes.size).toBeGreaterThan(1); // renamed into place, not rewritten in place
  });

  it("token mode file: the token file is written 0600 before the restart, and no command line holds the token", async () => {
    const { r, options, dir } = await runner("env");
    const store = { ...TOKEN, token: "file-token" };
    const rendered = renderFlags([], store, { tokenMode: "file", stateDir: dir });
    await r.apply({
      store,
      argv: rendered.argv,
      unsetEnv: rendered.unsetEnv,
      ...(rendered.tokenFile ? { tokenFile: rendered.tokenFile } : {}),
    });
    expect(readFileSync(join(dir, "bearer-token"), "utf8")).toBe("file-token");
    expect(statSync(join(dir, "bearer-token")).mode & 0o777).toBe(0o600);
    expect(readFileSync(options.flagsFile, "utf8")).not.toContain("file-token");
  });

  it("reports a failing restart command with its stderr, token scrubbed", async () => {
    const { r: failing, logs, secrets } = await runner("args", {}, { FAIL_WITH: "3" });
    secrets.add(TOKEN.token);
    await expect(failing.apply(launchFor(TOKEN))).rejects.toThrow(ApplyError);
    const snap = failing.snapshot();
    expect(snap.running).toBe(false);
    expect(snap.error).toMatch(
      /restart command .*record\.sh failed \(exit 3: Job for parca-agent.service failed/,
    );
    expect(snap.problem?.code).toBe("RESTART_FAILED");
    expect(snap.problem?.message).toBe(snap.error);
    expect(snap.lastExit?.code).toBe(3);
    expect(JSON.stringify(snap)).not.toContain(TOKEN.token);
    expect(logs.join("")).not.toContain('s3cr\\"et');
  });

  it("kills a hung restart command with its whole process group on timeout", async () => {
    const { r, dir } = await runner("args", { commandTimeoutMs: 500 }, { HANG_RUNS: "1" });
    const started = performance.now();
    await expect(r.apply(launchFor(PLAIN))).rejects.toThrow(/timed out after 500 ms/);
    // Well before the grandchild's 300 s: it held the pipe, and it was killed too.
    expect(performance.now() - started).toBeLessThan(60_000);
    const hung = readFileSync(join(dir, "commands.log.hung"), "utf8").trim();
    await waitFor("the grandchild gone", () => !isLive(Number(hung)));
    const snap = r.snapshot();
    expect(snap.problem?.code).toBe("RESTART_FAILED");
    expect(snap.lastExit?.stderrTail).toEqual(["restarting parca-agent.service"]);
  });

  it("gives up on a restart command when aborted: its group killed, no RESTART_FAILED", async () => {
    const { r, dir } = await runner("args", {}, { HANG_RUNS: "1" });
    const abort = new AbortController();
    const applying = r.apply(launchFor(PLAIN), abort.signal);
    const hungFile = join(dir, "commands.log.hung");
    await waitFor("the grandchild started", () => existsSync(hungFile));
    abort.abort();
    await expect(applying).rejects.toThrow(/stopped: newer relation data or a shutdown/);
    await waitFor("the grandchild gone", () => !isLive(Number(readFileSync(hungFile, "utf8"))));
    expect(r.snapshot().problem).toBeUndefined();
    expect(r.snapshot().running).toBe(false);
  });

  it("a restart that succeeds clears RESTART_FAILED", async () => {
    const { r } = await runner("args", {}, { FAIL_RUNS: "1" });
    await expect(r.apply(launchFor(PLAIN))).rejects.toThrow(/exit 1: .*failed \(run 1\)/);
    expect(r.snapshot().problem?.code).toBe("RESTART_FAILED");
    await r.apply(launchFor(PLAIN));
    expect(r.snapshot()).toMatchObject({ running: true, restarts: 0 });
    expect(r.snapshot().problem).toBeUndefined();
  });

  it("runs the stop command on stop", async () => {
    const { r, commands } = await runner("args", {
      stopCommand: [RECORD_SH, "stop", "parca-agent"],
    });
    await r.apply(launchFor(PLAIN));
    await r.stop();
    expect((await commands()).at(-1)).toBe("stop parca-agent|10.0.0.5:7070|true|");
    expect(r.snapshot().running).toBe(false);
  });

  it("refuses env-format flags it cannot carry, leaving the old file", async () => {
    const { r, options, commands } = await runner("env");
    await r.apply(launchFor(PLAIN));
    const before = readFileSync(options.flagsFile, "utf8");
    await expect(r.apply(launchFor(PLAIN, ["--node=with space"]))).rejects.toThrow(/whitespace/);
    expect(readFileSync(options.flagsFile, "utf8")).toBe(before);
    expect(r.snapshot().error).toContain("whitespace");
    expect(await commands()).toHaveLength(1);
  });
});

describe("splitCommand", () => {
  it.each([
    ["systemctl restart parca-agent", ["systemctl", "restart", "parca-agent"]],
    ["  /usr/bin/snap   restart parca-agent ", ["/usr/bin/snap", "restart", "parca-agent"]],
    [`sh -c 'echo $HOME; rm -rf x'`, ["sh", "-c", "echo $HOME; rm -rf x"]],
    [`cmd "a b" 'c d' e"f g"h`, ["cmd", "a b", "c d", "ef gh"]],
    [`cmd "say \\"hi\\"" ''`, ["cmd", 'say "hi"', ""]],
    ["cmd a|b > c", ["cmd", "a|b", ">", "c"]],
  ])("%s", (text, words) => {
    expect(splitCommand(text)).toEqual(words);
  });

  it("refuses unterminated quotes and empty commands", () => {
    expect(() => splitCommand(`cmd "open`)).toThrow(CommandSyntaxError);
    expect(() => splitCommand("   ")).toThrow(CommandSyntaxError);
  });
});
