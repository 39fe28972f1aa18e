// The real parca-agent releases (test builds made by `npm run peers` from their release sources
// into a cache outside the repository), run on loopback only: --analytics-opt-out,
// --debuginfo-upload-disable, no KUBERNETES_SERVICE_HOST, its own --http-address port.
//   v0.41.0 writes over the Write stream, and ignores YAML flags in --config-path;
//   v0.49.0 writes with WriteArrow (unless --remote-store-use-v2-schema=false), exports
//   parca_agent_write_requests_total, and reads YAML flags.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { allPids, cmdline, isLive } from "../../src/agent/proc.js";
import { freePort } from "./ingress.js";
import { peersCache } from "./parca.js";
import { waitFor } from "./procs.js";

export const AGENT_VERSIONS = ["v0.41.0", "v0.49.0"] as const;
export type AgentVersion = (typeof AGENT_VERSIONS)[number];
/** What the release build prints for `--version`: no leading v. */
export const printedVersion = (version: AgentVersion) => version.slice(1);

/** Where scripts/peers.sh put an agent; the real-agent tests fail without it, never skip. */
export function realAgentBinary(version: AgentVersion): string {
  const binary = join(peersCache(), `parca-agent-${version}-sandbox2`, "parca-agent");
  if (!existsSync(binary)) {
    throw new Error(
      `no parca-agent ${version} test build at ${binary}: put the source archive of the tag (https://github.com/parca-dev/parca-agent/archive/refs/tags/${version}.tar.gz) in the peers' source directory (PARCA_SIDECAR_PEER_SOURCES, else shared/peers beside the checkout) and run "npm run peers"`,
    );
  }
  return binary;
}

/**
 * The agent's base arguments for a test: its own metrics port, a node name, nothing beyond
 * loopback — ending in bare booleans, as operators write them.
 */
export async function agentArgs(
  name: string,
): Promise<{ args: string[]; metricsPort: number; node: string }> {
  const metricsPort = await freePort();
  return {
    metricsPort,
    node: `${TEST_NODE.slice("--node=".length)}${name}`,
    args: [
      `${TEST_NODE}${name}`,
      `--http-address=127.0.0.1:${metricsPort}`,
      "--analytics-opt-out",
      "--debuginfo-upload-disable",
    ],
  };
}

/** Every node name the tests give their agents starts so (`agentArgs`). */
const TEST_NODE = "--node=real-";

/**
 * Live processes of the real agent binaries that a test started (parents and workers), as
 * "pid --node=…": a bench or a person's own agent on the same machine is not the tests'.
 */
export function realAgentProcesses(): string[] {
  const binaries = new Set(
    AGENT_VERSIONS.map((v) => join(peersCache(), `parca-agent-${v}-sandbox2`, "parca-agent")),
  );
  const found: string[] = [];
  for (const pid of allPids()) {
    const argv = cmdline(pid);
    const node = argv?.find((a) => a.startsWith(TEST_NODE));
    if (argv?.[0] && binaries.has(argv[0]) && node && isLive(pid)) found.push(`${pid} ${node}`);
  }
  return found;
}

/** For afterEach: kills real agents a test left behind, and reports them. */
export async function strayRealAgents(): Promise<string[]> {
  const left = realAgentProcesses();
  for (const found of left) {
    try {
      process.kill(Number.parseInt(found, 10), "SIGKILL");
    } catch {
      // gone
    }
  }
  if (left.length > 0) await waitFor("real agents gone", () => realAgentProcesses().length === 0);
  return left;
}

/** The agent could not load its eBPF tracer: the profile tests fail at once, never skip. */
export const EBPF_FAILED = "Failed to load eBPF tracer";
