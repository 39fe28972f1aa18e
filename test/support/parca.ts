// The real Parca server (built by scripts/peers.sh into a cache outside the repository), run on
// loopback with in-memory storage, a temp dir for its bucket, and no outside upstream.
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { freePort, type Ingress, runListening } from "./ingress.js";

export const PARCA_VERSION = "v0.28.0";

/** Where scripts/peers.sh builds the real peers (PARCA_SIDECAR_PEERS, else the user's cache). */
export function peersCache(): string {
  return (
    process.env.PARCA_SIDECAR_PEERS ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "parca-agent-sidecar", "peers")
  );
}

/** Where scripts/peers.sh put the server; the suite fails (never skips) when it is missing. */
export function parcaBinary(): string {
  const binary = join(peersCache(), `parca-${PARCA_VERSION}`, "parca");
  if (!existsSync(binary))
    throw new Error(`no Parca server at ${binary}: run "npm run peers" (the test command does)`);
  return binary;
}

export class RealParca {
  private constructor(
    readonly address: string,
    private readonly daemon: Ingress,
  ) {}

  /**
   * Starts a server whose files live in `dir` (the caller removes it). With `forwardTo`, a
   * scraper-only Parca (`--mode=scraper-only`) that forwards what it receives to that store over
   * plaintext: it implements only Write and WriteRaw.
   */
  static async start(dir: string, options: { forwardTo?: string } = {}): Promise<RealParca> {
    await mkdir(join(dir, "bucket"));
    const config = join(dir, "parca.yaml");
    await writeFile(
      config,
      `object_storage:\n  bucket:\n    type: FILESYSTEM\n    config:\n      directory: ${join(dir, "bucket")}\n`,
    );
    const port = await freePort();
    const closed = await freePort();
    const daemon = await runListening(
      parcaBinary(),
      [
        `--config-path=${config}`,
        `--http-address=127.0.0.1:${port}`,
        // Its default upstream is a public server: a closed loopback port instead.
        `--debuginfod-upstream-servers=127.0.0.1:${closed}`,
        ...(options.forwardTo
          ? ["--mode=scraper-only", `--store-address=${options.forwardTo}`, "--insecure"]
          : []),
      ],
      port,
    );
    return new RealParca(`127.0.0.1:${port}`, daemon);
  }

  /** What the server printed. */
  log(): string {
    return this.daemon.output();
  }

  /** The `node` label values of the profiles it holds: which agents' profiles are queryable. */
  async nodes(): Promise<string[]> {
    const res = await fetch(`http://${this.address}/api/profiles/labels/node/values`);
    if (!res.ok) return [];
    return ((await res.json()) as { labelValues?: string[] }).labelValues ?? [];
  }

  /** How many calls of the store's ProfileStoreService `method` it handled. */
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

  stop(): Promise<void> {
    return this.daemon.stop();
  }
}
