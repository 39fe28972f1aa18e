// The version matrix: each real agent release × each kind of store × the v2-schema flag. In every
// cell the check's verdict (`parca-agent-sidecar check --agent-version …`) is compared with what
// the real agent then does on its own: its first write lands in the storing Parca, or fails.
// The check predicts "fails" when it fails, and when it passes with WRITE_STREAM_UNANSWERED (a
// scraper-only Parca takes the Write stream but never answers it: the sidecar applies such a
// config and lets the agent's writes decide, rolling back when they fail).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseWriteCounts } from "../../src/delivery/counts.js";
import { makePki } from "../support/certs.js";
import { spawnCli } from "../support/cli.js";
import { type Ingress, startNginx } from "../support/ingress.js";
import { RealParca } from "../support/parca.js";
import { waitFor } from "../support/procs.js";
import {
  AGENT_VERSIONS,
  type AgentVersion,
  agentArgs,
  printedVersion,
  realAgentBinary,
} from "../support/real-agent.js";
import { noRealAgentAfterEach } from "../support/real-run.js";
import { writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

noRealAgentAfterEach();

type StoreKind = "parca" | "scraper-only" | "nginx without WriteArrow";
type Outcome = "lands" | "fails";

interface Cell {
  readonly agent: AgentVersion;
  readonly store: StoreKind;
  /** `--remote-store-use-v2-schema=false` in the base args (only agents that have the flag). */
  readonly v2False: boolean;
  readonly name: string;
}

const CELLS: Cell[] = AGENT_VERSIONS.flatMap((agent) =>
  (agent === "v0.41.0" ? [false] : [false, true]).flatMap((v2False) =>
    (["parca", "scraper-only", "nginx without WriteArrow"] as const).map((store) => ({
      agent,
      store,
      v2False,
      name: `${agent} × ${store} × ${v2False ? "--remote-store-use-v2-schema=false" : "v2-schema flag unset"}`,
    })),
  ),
);

const rows: string[] = [];
let parca: RealParca;
let forwarder: RealParca;
let nginx: Ingress;
let caFile = "";

// The stores live for the whole matrix (tempDir's folders go after each test).
const dirs: string[] = [];
const keptDir = async (prefix: string) => {
  dirs.push(await mkdtemp(join(tmpdir(), prefix)));
  return dirs.at(-1) as string;
};

beforeAll(async () => {
  const dir = await keptDir("pas-matrix-");
  parca = await RealParca.start(await keptDir("pas-parca-"));
  forwarder = await RealParca.start(await keptDir("pas-parca-"), { forwardTo: parca.address });
  const pki = makePki();
  caFile = join(dir, "ca.pem");
  await writeFile(caFile, pki.ca.certPem);
  // An ingress with no route for WriteArrow alone (HTTP 404), everything else passed on.
  nginx = await startNginx({
    dir,
    leaf: pki.leaf,
    sslProtocols: "TLSv1.3",
    root: `grpc_pass grpc://${parca.address};`,
    locations:
      "    location = /parca.profilestore.v1alpha1.ProfileStoreService/WriteArrow { return 404; }",
  });
}, 120_000);

afterAll(async () => {
  console.log(
    [
      "",
      "agent    store                     --remote-store-use-v2-schema  check says            agent does",
      ...rows,
      "",
    ].join("\n"),
  );
  await Promise.all([nginx?.stop(), forwarder?.stop(), parca?.stop()]);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function target(store: StoreKind): { address: string; insecure: boolean } {
  if (store === "parca") return { address: parca.address, insecure: true };
  if (store === "scraper-only") return { address: forwarder.address, insecure: true };
  return { address: nginx.address, insecure: false };
}

/** What the check predicts for the agent's first write, and the check's own summary. */
async function predict(cell: Cell, flags: string[]): Promise<[Outcome, string]> {
  const { address, insecure } = target(cell.store);
  const relation = join(await tempDir(), "relation.json");
  await writeRelation(relation, {
    "remote-store-address": address,
    "remote-store-insecure": String(insecure),
  });
  const version = printedVersion(cell.agent);
  const r = await spawnCli(
    ["check", "--relation", relation, "--agent-version", version, "--json", "--", ...flags],
    { SSL_CERT_FILE: caFile, SSL_CERT_DIR: "/nonexistent" },
  );
  const result = JSON.parse(r.stdout) as {
    ok: boolean;
    writeRpc: string;
    diagnosis?: { code: string };
    warnings: { code: string }[];
  };
  const unanswered = result.warnings.some((w) => w.code === "WRITE_STREAM_UNANSWERED");
  const said = result.ok
    ? `${result.writeRpc} ok${unanswered ? ", UNANSWERED" : ""}`
    : `${result.writeRpc} ${result.diagnosis?.code}`;
  return [result.ok && !unanswered ? "lands" : "fails", said];
}

/** Runs the real agent alone against the cell's store: its first write lands, or fails. */
async function observe(cell: Cell, flags: string[]): Promise<[Outcome, string]> {
  const { address, insecure } = target(cell.store);
  const name = `matrix-${cell.agent}-${cell.store.split(" ")[0]}-${cell.v2False ? "v1" : "dflt"}`;
  const { args, node, metricsPort } = await agentArgs(name.replaceAll(".", ""));
  const child: ChildProcess = spawn(
    realAgentBinary(cell.agent),
    [...args, ...flags, `--remote-store-address=${address}`, `--remote-store-insecure=${insecure}`],
    {
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH, SSL_CERT_FILE: caFile, SSL_CERT_DIR: "/nonexistent" },
    },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let outcome: [Outcome, string] | undefined;
  try {
    await waitFor(
      `${node}: a write that lands or fails`,
      async () => {
        if ((await parca.nodes()).includes(node)) {
          outcome = ["lands", "profiles stored"];
          return true;
        }
        const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
          .then((res) => res.text())
          .catch(() => "");
        const counts = parseWriteCounts(text);
        if (counts && counts.failed > 0 && counts.ok === 0) {
          outcome = ["fails", [...counts.failures.keys()].join(", ")];
          return true;
        }
        if (child.exitCode !== null) {
          outcome = ["fails", `exited ${child.exitCode}`];
          return true;
        }
        return false;
      },
      150_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; the agent said:\n${stderr.slice(-3000)}`);
  } finally {
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {
      // gone
    }
    await exited;
  }
  return outcome as [Outcome, string];
}

describe("the version matrix: the check's verdict equals what the real agent does", () => {
  it.each(CELLS.map((cell) => [cell.name, cell] as const))(
    "%s",
    async (_, cell) => {
      const flags = cell.v2False ? ["--remote-store-use-v2-schema=false"] : [];
      const [predicted, said] = await predict(cell, flags);
      const [observed, why] = await observe(cell, flags);
      rows.push(
        [
          cell.agent.padEnd(8),
          cell.store.padEnd(25),
          (cell.v2False ? "=false" : "unset").padEnd(29),
          `${predicted} (${said})`.padEnd(21),
          `${observed} (${why})`,
        ].join(" "),
      );
      expect(observed).toBe(predicted);
    },
    200_000,
  );
});
