// The single-file binaries of `npm run package`. The one for this machine's architecture runs the
// main job with no Node on PATH and nothing beside it; the other one cannot run here, so its ELF
// header and its injected SEA blob are checked.
import { spawn } from "node:child_process";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { blobPath, SEA_FUSE, TARGETS, type Target } from "../../scripts/package/targets.js";
import { makePki } from "../support/certs.js";
import { CLI, runToEnd } from "../support/cli.js";
import { startSidecar } from "../support/e2e.js";
import { elfHeader, releaseBinary, runnableTarget, VERSION } from "../support/release.js";
import { ROOT } from "../support/root.js";
import { TestStore } from "../support/store.js";
import { tempDir } from "../support/tmp.js";

const host = runnableTarget();
const BIN = releaseBinary(host);

/** The binary and `node dist/cli.js`, the same arguments and environment. */
async function both(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return {
    binary: await runToEnd(BIN, args, env),
    node: await runToEnd(process.execPath, [CLI, ...args], env),
  };
}

const stores: TestStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop();
});

describe(`the binary for this machine (linux-${host.arch})`, () => {
  it("--version prints the package's version from an empty directory, with no PATH at all", async () => {
    const dir = await tempDir("pas-bin-");
    const alone = join(dir, "parca-agent-sidecar");
    await copyFile(BIN, alone);
    const r = await runToEnd(alone, ["--version"], {}, dir);
    expect(r).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
  });

  it("--help and each command's --help print what node dist/cli.js prints", async () => {
    for (const args of [
      ["--help"],
      ...["run", "render", "check", "status"].map((c) => [c, "--help"]),
    ]) {
      const { binary, node } = await both(args);
      expect(binary.code, args.join(" ")).toBe(0);
      expect(binary).toEqual(node);
    }
    expect((await both(["--help"])).binary.stdout).toContain("parca-agent-sidecar run");
  });

  it("render: YAML relation data (the yaml package, loaded lazily) gives node's argv, the token redacted; bad input gives node's error", async () => {
    const dir = await tempDir("pas-bin-");
    const relation = join(dir, "parca-store.yaml");
    await writeFile(
      relation,
      "remote-store-address: https://parca.example.com\nremote-store-bearer-token: s3cret-binary-token\n",
    );
    const { binary, node } = await both(["render", "--relation", relation, "--", "--node=n1"]);
    expect(binary.code).toBe(0);
    expect(binary).toEqual(node);
    const rendered = JSON.parse(binary.stdout);
    expect(rendered.argv).toContain("--remote-store-address=parca.example.com:443");
    expect(binary.stdout).not.toContain("s3cret-binary-token");
    expect(rendered.warnings.map((w: { code: string }) => w.code)).toContain("ADDRESS_FROM_URL");

    await writeFile(relation, "remote-store-address: [unclosed\n");
    const bad = await both(["render", "--relation", relation]);
    expect(bad.binary.code).toBe(2);
    expect(bad.binary).toEqual(bad.node);
  });

  it("check: a TLS store with a token and a CA file passes (exit 0); a wrong token is UNAUTHENTICATED (exit 1)", async () => {
    const pki = makePki();
    const dir = await tempDir("pas-bin-");
    const ca = join(dir, "ca.pem");
    await writeFile(ca, pki.ca.certPem);
    const store = await TestStore.start({ tls: { leaf: pki.leaf }, token: "right-token" });
    stores.push(store);
    const relation = join(dir, "relation.json");
    const env = { SSL_CERT_FILE: join(dir, "none.pem"), SSL_CERT_DIR: join(dir, "none") };
    const check = async (token: string) => {
      await writeFile(
        relation,
        JSON.stringify({
          "remote-store-address": store.address,
          "remote-store-bearer-token": token,
        }),
      );
      return runToEnd(BIN, ["check", "--relation", relation, "--ca-file", ca], env);
    };
    const passed = await check("right-token");
    expect(passed.code, passed.stderr).toBe(0);
    expect(JSON.parse(passed.stdout)).toMatchObject({ ok: true, writeRpc: "WriteArrow" });
    const failed = await check("wrong-token");
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout).diagnosis.code).toBe("UNAUTHENTICATED");
    expect(`${passed.stdout}${failed.stdout}`).not.toContain("right-token");
  });

  it("run --metrics-listen: prom-client, loaded on first use, serves the sidecar's and Node's metrics; SIGTERM exits 0", async () => {
    vi.stubEnv("PARCA_SIDECAR_BIN", BIN);
    try {
      const dir = await tempDir("pas-bin-");
      const sc = await startSidecar([
        ...["--relation", join(dir, "absent.json"), "--state-dir", join(dir, "state")],
        ...["--metrics-listen", "127.0.0.1:0"],
      ]);
      expect(sc.child.spawnargs[0]).toBe(BIN);
      const res = await fetch(`http://${sc.metricsAddress}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain(`parca_agent_sidecar_build_info{version="${VERSION}"} 1`);
      expect(text).toContain('parca_agent_sidecar_phase{phase="WAITING_FOR_RELATION"} 1');
      expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
      expect(await sc.stop()).toBe(0);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("the demo, with the binary as its sidecar: every step, exit 0, no agent left", async () => {
    const demo = join(ROOT, "build", "demo", "scripts", "demo.js");
    const child = spawn(process.execPath, [demo], {
      env: { PATH: process.env.PATH, PARCA_SIDECAR_BIN: BIN },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, output).toBe(0);
    expect(output).toContain(`sidecar started (${BIN})`);
    expect(output).toContain("exit 0; no agent left; no token in");
    expect(output).toContain("demo done");
  }, 120_000);
});

/** The ELF's machine and the blob `npm run package` injected (found whole in the file). */
async function expectSea(target: Target, binary: string): Promise<void> {
  expect(elfHeader(binary)).toEqual({
    magic: true,
    bits: 64,
    littleEndian: true,
    machine: target.elfMachine,
  });
  const [bytes, blob] = await Promise.all([readFile(binary), readFile(blobPath(target))]);
  expect(blob.length).toBeGreaterThan(1_000_000);
  expect(bytes.indexOf(blob)).toBeGreaterThan(0);
  // postject flips the fuse, which tells Node to look for the blob.
  expect(bytes.includes(`${SEA_FUSE}:1`)).toBe(true);
  expect(bytes.includes(`${SEA_FUSE}:0`)).toBe(false);
}

describe.each(TARGETS.map((t) => [t.arch, t] as const))("the binary for linux-%s", (_, target) => {
  it("is a 64-bit little-endian ELF for its machine, with the SEA blob injected and the fuse flipped", async () => {
    await expectSea(target, releaseBinary(target));
  });
});
