// What the real-agent tests share: the sidecar started with a real agent, and waits that fail at
// once when the agent could not load its eBPF tracer.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import type { Status } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import type { Issued } from "./certs.js";
import { afterTest, startSidecar } from "./e2e.js";
import { type Ingress, startNginx } from "./ingress.js";
import type { RealParca } from "./parca.js";
import { waitFor } from "./procs.js";
import { EBPF_FAILED, strayRealAgents } from "./real-agent.js";
import type { Sidecar } from "./sidecar.js";
import { tempDir } from "./tmp.js";

/**
 * For a real-agent suite: after each test, no real agent of the tests' is left. Register it before
 * cleanUpAfterEach(): hooks run in reverse, so it runs once the sidecars and stores are stopped.
 */
export function noRealAgentAfterEach(): void {
  afterEach(async () => {
    expect(await strayRealAgents()).toEqual([]);
  });
}

/** Waits for a status, failing at once if the agent could not load its eBPF tracer. */
export function expectStatus(
  sc: Sidecar,
  what: string,
  predicate: (s: Status) => boolean,
  timeoutMs = 90_000,
): Promise<Status> {
  return sc.waitStatus(
    what,
    (s) => {
      if (sc.text().includes(EBPF_FAILED)) {
        const words = s.agent?.lastWords || s.agent?.lastExit?.stderrTail.join("\n");
        throw new Error(`the agent could not load its eBPF tracer; status says: ${words}`);
      }
      return predicate(s);
    },
    timeoutMs,
  );
}

/** Waits until `store` holds profiles of `node`. */
export async function profilesOf(store: RealParca, node: string, sc?: Sidecar): Promise<void> {
  await waitFor(
    `${node}'s profiles in ${store.address}`,
    async () => {
      if (sc?.text().includes(EBPF_FAILED)) throw new Error(`the agent logged "${EBPF_FAILED}"`);
      return (await store.nodes()).includes(node);
    },
    90_000,
  );
}

/**
 * The sidecar in supervise mode with a real agent binary, no system roots unless `env` names
 * some (SSL_CERT_FILE), a 20 ms quiet period; `args` are its options, `agentArgv` the base args.
 */
export async function realSidecar(
  agent: string,
  relation: string,
  args: readonly string[],
  agentArgv: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Sidecar> {
  const dir = await tempDir("pas-real-");
  return startSidecar(
    [
      ...["--relation", relation, "--agent", agent, "--state-dir", join(dir, "state")],
      ...["--debounce-ms", "20", ...args, "--", ...agentArgv],
    ],
    { SSL_CERT_FILE: join(dir, "no-roots.pem"), SSL_CERT_DIR: join(dir, "none"), ...env },
  );
}

/**
 * nginx in front of a real Parca, stopped after the test: TLS 1.3 only, h2, `grpc_pass`, with
 * `rootPrefix` (e.g. a token demand) in its main location and more `locations`; `caFile` holds
 * the CA of `pki` for the sidecar or the agent to trust.
 */
export async function nginxInFront(
  store: RealParca,
  pki: { readonly ca: Issued; readonly leaf: Issued },
  rootPrefix = "",
  locations = "",
): Promise<{ ingress: Ingress; caFile: string }> {
  const dir = await tempDir("pas-nginx-");
  const ingress = await startNginx({
    dir,
    leaf: pki.leaf,
    sslProtocols: "TLSv1.3",
    root: `${rootPrefix} grpc_pass grpc://${store.address};`,
    locations,
  });
  afterTest(() => ingress.stop());
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, pki.ca.certPem);
  return { ingress, caFile };
}
