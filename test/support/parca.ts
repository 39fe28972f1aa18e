// The real Parca server (built by scripts/peers.sh into a cache outside the repository), run on
// loopback with in-memory storage, a temp dir for its bucket, and no outside upstream.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ingress.js";
import { waitFor } from "./procs.js";
import { tempDir } from "./tmp.js";

export const PARCA_VERSION = "v0.28.0";

/** Where scripts/peers.sh put the server; the suite fails (never skips) when it is missing. */
export function parcaBinary(): string {
  const cache =
    process.env.PARCA_SIDECAR_PEERS ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "parca-agent-sidecar", "peers");
  const binary = join(cache, `parca-${PARCA_VERSION}`, "parca");
  if (!existsSync(binary))
    throw new Error(`no Parca server at ${binary}: run "npm run peers" (the test command does)`);
  return binary;
}

export class RealParca {
  private constructor(
    readonly address: string,
    private readonly child: ChildProcess,
    readonly log: () => string,
  ) {}

  static async start(): Promise<RealParca> {
    const dir = await tempDir("pas-parca-");
    await mkdir(join(dir, "bucket"));
    const config = join(dir, "parca.yaml");
    await writeFile(
      config,
      `object_storage:\n  bucket:\n    type: FILESYSTEM\n    config:\n      directory: ${join(dir, "bucket")}\n`,
    );
    const port = await freePort();
    const closed = await freePort();
    const child = spawn(
      parcaBinary(),
      [
        `--config-path=${config}`,
        `--http-address=127.0.0.1:${port}`,
        // Its default upstream is a public server: a closed loopback port instead.
        `--debuginfod-upstream-servers=127.0.0.1:${closed}`,
      ],
      {
        cwd: dir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: process.env.PATH },
      },
    );
    let output = "";
    child.stdout?.on("data", (d: Buffer) => {
      output += d;
    });
    child.stderr?.on("data", (d: Buffer) => {
      output += d;
    });
    const address = `127.0.0.1:${port}`;
    await waitFor(
      "the Parca server",
      async () => {
        if (child.exitCode !== null) throw new Error(`parca exited ${child.exitCode}: ${output}`);
        return fetch(`http://${address}/metrics`).then(
          (r) => r.ok,
          () => false,
        );
      },
      60_000,
    );
    return new RealParca(address, child, () => output);
  }

  /** How many Write* calls of the store's ProfileStoreService it handled, by method. */
  async handled(method: string): Promise<number> {
    const text = await (await fetch(`http://${this.address}/metrics`)).text();
    let total = 0;
    for (const line of text.split("\n"))
      if (
        line.startsWith("grpc_server_handled_total{") &&
        line.includes('grpc_service="parca.profilestore.v1alpha1.ProfileStoreService"') &&
        line.includes(`grpc_method="${method}"`)
      )
        total += Number(line.slice(line.lastIndexOf(" ") + 1));
    return total;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    process.kill(-(this.child.pid as number), "SIGKILL");
    await exited;
  }
}
