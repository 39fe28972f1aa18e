// The databags real providers write, through render (no network) and through run against a
// test store on loopback: the Polar Signals Cloud Integrator's URL, the parca machine charm's
// plaintext address, parca-k8s's TLS host:port — and the old parca-k8s ingress URL, held.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DeliveryState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { makePki } from "../support/certs.js";
import { spawnCli } from "../support/cli.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { freePort } from "../support/ingress.js";
import { KeyDirectory } from "../support/keydir.js";
import { recordedStarts, standinRun } from "../support/procs.js";
import {
  asJson,
  asKeyFiles,
  asYaml,
  PARCA_K8S,
  PARCA_K8S_INGRESS_URL,
  PARCA_MACHINE,
  POLAR_SIGNALS,
} from "../support/providers.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();
const pki = makePki();

/** A relation source in the provider's own form: a JSON or YAML file, or a key directory. */
async function source(
  form: "json" | "yaml" | "keys",
  bag: Record<string, string>,
): Promise<string> {
  const dir = await tempDir("pas-provider-");
  if (form === "keys") {
    const keys = new KeyDirectory(join(dir, "store"));
    await keys.write(asKeyFiles(bag));
    return keys.dir;
  }
  const path = join(dir, `relation.${form}`);
  await writeFile(path, form === "json" ? asJson(bag) : asYaml(bag));
  return path;
}

async function render(path: string) {
  const r = await spawnCli(["render", "--relation", path, "--", "--node=n1"]);
  return { code: r.code, out: JSON.parse(r.stdout) };
}

describe("what real providers publish, through render", () => {
  it("the Polar Signals Cloud Integrator's https URL (JSON): host:443 for the agent, ADDRESS_FROM_URL said", async () => {
    const path = await source("json", POLAR_SIGNALS);
    const { code, out } = await render(path);
    expect(code).toBe(0);
    expect(out.store).toEqual({
      address: "grpc.polarsignals.com:443",
      insecure: false,
      tokenSet: true,
    });
    expect(out.argv).toEqual([
      "--node=n1",
      "--remote-store-address=grpc.polarsignals.com:443",
      "--remote-store-insecure=false",
      "--remote-store-bearer-token=<redacted>",
    ]);
    expect(out.warnings).toEqual([
      {
        code: "ADDRESS_FROM_URL",
        message:
          'remote-store-address is the URL "https://grpc.polarsignals.com"; the agent gets "grpc.polarsignals.com:443"',
        hint: expect.stringContaining("the provider (the store's side of the relation) writes"),
        path,
      },
    ]);
  });

  it("the parca machine charm (YAML) and parca-k8s (key directory): taken as written, no warning", async () => {
    const machine = await render(await source("yaml", PARCA_MACHINE));
    expect(machine.code).toBe(0);
    expect(machine.out.argv.slice(1)).toEqual([
      "--remote-store-address=10.0.0.5:7070",
      "--remote-store-insecure=true",
    ]);
    expect(machine.out.warnings).toEqual([]);
    const k8s = await render(await source("keys", PARCA_K8S));
    expect(k8s.code).toBe(0);
    expect(k8s.out.argv.slice(1)).toEqual([
      "--remote-store-address=parca-k8s.cos.svc.cluster.local:7993",
      "--remote-store-insecure=false",
    ]);
    expect(k8s.out.warnings).toEqual([]);
  });

  it("an http URL without a port means port 80, plaintext", async () => {
    const { out } = await render(
      await source("json", {
        "remote-store-address": "http://parca.example.com",
        "remote-store-insecure": "true",
      }),
    );
    expect(out.store).toMatchObject({ address: "parca.example.com:80", insecure: true });
    expect(out.warnings.map((w: { code: string }) => w.code)).toEqual(["ADDRESS_FROM_URL"]);
  });

  it("the old parca-k8s ingress URL with a path: INVALID_ADDRESS, saying why and who must change it", async () => {
    const path = await source("yaml", PARCA_K8S_INGRESS_URL);
    const { code, out } = await render(path);
    expect(code).toBe(2);
    expect(out.error.code).toBe("INVALID_ADDRESS");
    expect(out.error.message).toContain("gRPC cannot be routed through a path prefix");
    expect(out.error.hint).toMatch(
      /^the provider must publish the store's gRPC endpoint as host:port/,
    );
    expect(out.error.hint).toContain('"ingress.example.com:443"');
  });

  it("a scheme that contradicts remote-store-insecure: INVALID_ADDRESS naming both keys", async () => {
    const { code, out } = await render(
      await source("json", { ...POLAR_SIGNALS, "remote-store-insecure": "true" }),
    );
    expect(code).toBe(2);
    expect(out.error.code).toBe("INVALID_ADDRESS");
    expect(out.error.message).toContain("remote-store-address");
    expect(out.error.message).toContain("remote-store-insecure");
  });
});

describe("what real providers publish, through check and run against a test store", () => {
  async function caFile(): Promise<string> {
    const path = join(await tempDir(), "ca.pem");
    await writeFile(path, pki.ca.certPem);
    return path;
  }

  it("the Polar Signals form with the store's own port: checked over TLS with the token, the agent given host:port, its writes delivered", async () => {
    const token = POLAR_SIGNALS["remote-store-bearer-token"];
    const store = await startStore({ tls: { leaf: pki.leaf }, token });
    const url = `https://localhost:${store.port}`;
    const path = await source("json", { ...POLAR_SIGNALS, "remote-store-address": url });
    const roots = { SSL_CERT_FILE: await caFile(), SSL_CERT_DIR: "/nonexistent" };

    const check = await spawnCli(["check", "--relation", path, "--json"], roots);
    const result = JSON.parse(check.stdout);
    expect(check.code).toBe(0);
    expect(result).toMatchObject({ ok: true, address: `localhost:${store.port}`, insecure: false });
    expect(result.stages.map((s: { name: string }) => s.name)).toContain("tls");
    expect(result.warnings.map((w: { code: string }) => w.code)).toContain("ADDRESS_FROM_URL");
    expect(check.stdout).not.toContain(token);

    const dir = await tempDir();
    const record = join(dir, "starts.jsonl");
    const sc = await startSidecar(
      [
        ...standinRun(path, join(dir, "state")),
        "--debounce-ms",
        "20",
        "--",
        "--node=polar",
        `--http-address=127.0.0.1:${await freePort()}`,
      ],
      { STANDIN_RECORD: record, ...roots },
    );
    const delivering = await sc.waitStatus(
      "DELIVERING",
      (s) => s.delivery?.state === DeliveryState.DELIVERING,
    );
    expect(delivering.phase).toBe(Phase.RUNNING);
    expect(delivering.applied).toEqual(
      expect.objectContaining({
        address: `localhost:${store.port}`,
        insecure: false,
        tokenSet: true,
      }),
    );
    expect(delivering.sources[0]?.warnings.map((w) => w.code)).toEqual(["ADDRESS_FROM_URL"]);
    expect(recordedStarts(record)[0]?.argv).toContain(
      `--remote-store-address=localhost:${store.port}`,
    );
    // The store saw the agent's writes with the token, over TLS (it serves nothing else).
    expect(store.writes).toBeGreaterThan(0);
    const writes = store.calls.filter((c) => c.path.endsWith("WriteArrow"));
    expect(writes.every((c) => c.metadata.authorization?.[0] === `Bearer ${token}`)).toBe(true);
    expect(sc.text()).toContain("ADDRESS_FROM_URL");
    expect(sc.text()).not.toContain(token);
  });

  it("the parca machine charm's form (YAML, plaintext) and parca-k8s's (key directory, TLS) run as written", async () => {
    const plain = await startStore();
    const tls = await startStore({ tls: { leaf: pki.leaf } });
    const roots = { SSL_CERT_FILE: await caFile(), SSL_CERT_DIR: "/nonexistent" };
    for (const [form, bag, address] of [
      ["yaml", { ...PARCA_MACHINE, "remote-store-address": plain.address }, plain.address],
      [
        "keys",
        { ...PARCA_K8S, "remote-store-address": `localhost:${tls.port}` },
        `localhost:${tls.port}`,
      ],
    ] as const) {
      const path = await source(form, bag);
      const dir = await tempDir();
      const sc = await startSidecar(
        [...standinRun(path, join(dir, "state")), "--debounce-ms", "20", "--", `--node=${form}`],
        { STANDIN_RECORD: join(dir, "starts.jsonl"), ...roots },
      );
      const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
      expect(running.applied?.address).toBe(address);
      expect(running.lastCheck?.ok).toBe(true);
      expect(running.sources[0]?.warnings).toEqual([]);
      expect(await sc.stop()).toBe(0);
    }
  });

  it("the old parca-k8s ingress URL: held with its diagnosis, no agent started", async () => {
    const path = await source("yaml", PARCA_K8S_INGRESS_URL);
    const dir = await tempDir();
    const record = join(dir, "starts.jsonl");
    const sc = await startSidecar(
      [...standinRun(path, join(dir, "state")), "--debounce-ms", "20", "--", "--node=old"],
      { STANDIN_RECORD: record },
    );
    const held = await sc.waitStatus("INVALID_INPUT", (s) => s.phase === Phase.INVALID_INPUT);
    expect(held.sources[0]?.error?.code).toBe("INVALID_ADDRESS");
    expect(held.sources[0]?.error?.message).toContain("path prefix");
    expect(recordedStarts(record)).toEqual([]);
  });
});
