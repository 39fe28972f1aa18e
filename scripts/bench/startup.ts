// Start-up, side by side: `node dist/cli.js` and the single-file binary (`npm run package`),
// runs interleaved so that both see the same machine. Two moments from exec: `--version` printed
// (the process ran its code and exited), and the health service SERVING (`run` listening).
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { HealthCheckResponse_ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.js";
import { CLI } from "../../test/support/cli.js";
import { freePort } from "../../test/support/ingress.js";
import { VERSION } from "../../test/support/release.js";
import { healthCheck } from "../../test/support/sidecar.js";
import { binaryPath, debPath, hostTarget, TARGETS } from "../package/targets.js";
import { type Percentiles, percentiles } from "./stats.js";

export interface StartupVariant {
  readonly version_ms: Percentiles;
  readonly serving_ms: Percentiles;
}

export type StartupResult =
  | {
      readonly node: StartupVariant;
      readonly binary: StartupVariant;
      /** Bytes of each file `npm run package` made. */
      readonly sizes_mb: Record<string, number>;
    }
  | { readonly missing: string };

/** exec → exit 0 with the version on stdout. */
function timeVersion(command: readonly string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(command[0] as string, [...command.slice(1), "--version"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.once("exit", (code) =>
      code === 0 && out.trim() === VERSION
        ? resolve(performance.now() - started)
        : reject(new Error(`${command.join(" ")} --version: exit ${code}, printed ${out}`)),
    ),
  );
}

/** exec `run` (no relation yet) → its health service answers SERVING; then SIGTERM. */
async function timeServing(command: readonly string[], dir: string): Promise<number> {
  const health = `127.0.0.1:${await freePort()}`;
  const started = performance.now();
  const child = spawn(
    command[0] as string,
    [
      ...command.slice(1),
      "run",
      ...["--relation", join(dir, "absent.json"), "--state-dir", join(dir, "state")],
      ...["--listen", "127.0.0.1:0", "--health-listen", health, "--log-level", "error"],
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command.join(" ")} run exited early`);
      if ((await healthCheck(health, "", 1_000)) === HealthCheckResponse_ServingStatus.SERVING) {
        return performance.now() - started;
      }
      if (performance.now() - started > 20_000) throw new Error("no SERVING within 20 s");
      await sleep(2);
    }
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

export async function measureStartup(n: number, dir: string): Promise<StartupResult> {
  const host = hostTarget();
  const binary = host && binaryPath(host);
  if (!binary || !existsSync(binary)) {
    return { missing: `no binary for this machine in release/: run \`npm run package\`` };
  }
  const commands = { node: [process.execPath, CLI], binary: [binary] };
  const times = {
    node: { version: [] as number[], serving: [] as number[] },
    binary: { version: [] as number[], serving: [] as number[] },
  };
  // One warm-up each (page cache), then n rounds, the two variants alternating.
  for (const command of Object.values(commands)) await timeVersion(command);
  for (let i = 0; i < n; i++) {
    for (const [name, command] of Object.entries(commands) as [keyof typeof times, string[]][]) {
      times[name].version.push(await timeVersion(command));
      times[name].serving.push(await timeServing(command, dir));
    }
  }
  const variant = (t: { version: number[]; serving: number[] }): StartupVariant => ({
    version_ms: percentiles(t.version),
    serving_ms: percentiles(t.serving),
  });
  const sizes_mb: Record<string, number> = {};
  for (const target of TARGETS) {
    for (const path of [binaryPath(target), debPath(target, VERSION)]) {
      if (existsSync(path)) {
        sizes_mb[basename(path)] = Math.round(statSync(path).size / 1e5) / 10;
      }
    }
  }
  return { node: variant(times.node), binary: variant(times.binary), sizes_mb };
}
