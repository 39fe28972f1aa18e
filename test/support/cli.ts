import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { ROOT } from "./root.js";

export const CLI = join(ROOT, "dist", "cli.js");

/** The Node flags of the CLI's shebang (`#!/usr/bin/env -S node …`): spawned as the bin runs it. */
export const NODE_FLAGS: readonly string[] = (() => {
  try {
    const first = readFileSync(CLI, "utf8").split("\n", 1)[0] ?? "";
    const words = first.replace(/^#!\S*\s*(-S\s+)?/, "").split(/\s+/);
    return words.slice(words.indexOf("node") + 1).filter(Boolean);
  } catch {
    return [];
  }
})();

/**
 * How tests, the demo and the bench start the sidecar: `node dist/cli.js`, or the single-file
 * binary (`npm run package`) that PARCA_SIDECAR_BIN names, read at each start.
 */
export function sidecarCommand(): readonly string[] {
  const binary = process.env.PARCA_SIDECAR_BIN;
  return binary ? [binary] : [process.execPath, ...NODE_FLAGS, CLI];
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in this process (fast; same code path as the binary after argv). */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    out: (line) => {
      stdout += `${line}\n`;
    },
    err: (line) => {
      stderr += `${line}\n`;
    },
    env,
  });
  return { code, stdout, stderr };
}

/** Runs the built CLI (`dist/cli.js`, or PARCA_SIDECAR_BIN) as a real child process. */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const [command, ...prefix] = sidecarCommand() as [string, ...string[]];
  return runToEnd(command, [...prefix, ...args], { PATH: process.env.PATH, ...env });
}

/** Runs a command to its end with exactly `env`: its exit code, stdout and stderr. */
export function runToEnd(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(command, [...args], { env, cwd }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}
