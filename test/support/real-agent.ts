// The real parca-agent (v0.41.0, a test build made by `npm run peers` from its release source
// into a cache outside the repository), run on loopback only: --analytics-opt-out,
// --debuginfo-upload-disable, no KUBERNETES_SERVICE_HOST, its own --http-address port.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { allPids, cmdline, isLive } from "../../src/agent/proc.js";
import { freePort } from "./ingress.js";
import { peersCache } from "./parca.js";
import { waitFor } from "./procs.js";

export const AGENT_VERSION = "v0.41.0";

/** Where scripts/peers.sh put the agent, or undefined when it could not be built here. */
export function realAgentBinary(): string | undefined {
  const binary = join(peersCache(), `parca-agent-${AGENT_VERSION}-sandbox1`, "parca-agent");
  return existsSync(binary) ? binary : undefined;
}

/** Why the real-agent tests cannot run, and what to do; CI must never get here. */
export const NO_AGENT = `no parca-agent ${AGENT_VERSION} test build: set PARCA_AGENT_SOURCE to the source archive of the tag (https://github.com/parca-dev/parca-agent/archive/refs/tags/${AGENT_VERSION}.tar.gz) and run "npm run peers"`;

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
 * Live processes of the real agent binary that a test started (parents and workers), as
 * "pid --node=…": a bench or a person's own agent on the same machine is not the tests'.
 */
export function realAgentProcesses(): string[] {
  const binary = realAgentBinary();
  if (binary === undefined) return [];
  const found: string[] = [];
  for (const pid of allPids()) {
    const argv = cmdline(pid);
    const node = argv?.find((a) => a.startsWith(TEST_NODE));
    if (argv?.[0] === binary && node && isLive(pid)) found.push(`${pid} ${node}`);
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
