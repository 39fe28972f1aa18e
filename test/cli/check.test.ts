import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { makePki } from "../support/certs.js";
import { runCli, spawnCli } from "../support/cli.js";
import { silentEndpoint } from "../support/endpoints.js";
import { TestStore } from "../support/store.js";
import { tempDir } from "../support/tmp.js";

const stores: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.stop()));
});

async function relation(bag: Record<string, string>): Promise<string> {
  const path = join(await tempDir(), "relation.json");
  await writeFile(path, JSON.stringify(bag));
  return path;
}

const NO_ROOTS = { SSL_CERT_FILE: "/nonexistent", SSL_CERT_DIR: "/nonexistent" };

describe("a token of any length never garbles output", () => {
  it("check and render with a one-character token: valid JSON, words intact, the token only redacted as a value", async () => {
    const store = await TestStore.start({ token: "e" });
    stores.push(store);
    const path = await relation({
      "remote-store-address": store.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "e",
    });
    const passed = await spawnCli(["check", "--relation", path]);
    expect(passed.code).toBe(0);
    const passedResult = JSON.parse(passed.stdout);
    expect(passedResult).toMatchObject({ ok: true, insecure: true });
    // The relation data's warnings come with the check's.
    expect(passedResult.warnings.map((w: { code: string }) => w.code)).toEqual([
      "TOKEN_OVER_PLAINTEXT",
      "WEAK_TOKEN",
    ]);
    expect(passed.stdout).not.toContain("<redacted>");

    const wrong = await relation({
      "remote-store-address": store.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "x",
    });
    const failed = await spawnCli(["check", "--relation", wrong]);
    expect(failed.code).toBe(1);
    const result = JSON.parse(failed.stdout);
    expect(result.ok).toBe(false);
    expect(result.diagnosis.code).toBe("UNAUTHENTICATED");
    expect(result.diagnosis.message).toContain("answered UNAUTHENTICATED");
    expect(result.diagnosis.hint).toContain("remote-store-bearer-token");

    const render = await runCli(["render", "--relation", path, "--", "--node=e"]);
    const rendered = JSON.parse(render.stdout);
    expect(rendered.configured).toBe(true);
    expect(rendered.argv).toContain("--remote-store-bearer-token=<redacted>");
    expect(rendered.argv).toContain("--remote-store-insecure=true");
    expect(rendered.warnings.map((w: { code: string }) => w.code)).toEqual([
      "TOKEN_OVER_PLAINTEXT",
      "WEAK_TOKEN",
    ]);
  });
});

describe("parca-agent-sidecar check", () => {
  it("prints a passing CheckResult and exits 0 (built binary, plaintext + token)", async () => {
    const store = await TestStore.start({ token: "cli-secret-token" });
    stores.push(store);
    const path = await relation({
      "remote-store-address": store.address,
      "remote-store-insecure": "true",
      "remote-store-bearer-token": "cli-secret-token",
    });
    const r = await spawnCli(["check", "--relation", path, "--", "--node=n1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({
      ok: true,
      address: store.address,
      insecure: true,
    });
    // A token over plaintext is the relation data's warning, shown with the check.
    expect(result.warnings.map((w: { code: string }) => w.code)).toEqual(["TOKEN_OVER_PLAINTEXT"]);
    expect(result.stages.map((s: { name: string }) => s.name)).toEqual([
      "dns",
      "tcp",
      "health",
      "arrow",
    ]);
    expect(result.writeRpc).toBe("WriteArrow");
    expect(result.writeRpcReason).toContain("unknown");
    expect(result.diagnosis).toBeUndefined();
    expect(r.stdout).not.toContain("cli-secret-token");
  });

  it("exits 1 with the diagnosis when the check fails (TLS with --ca-file, wrong token)", async () => {
    const pki = makePki();
    const dir = await tempDir();
    await writeFile(join(dir, "ca.pem"), pki.ca.certPem);
    const store = await TestStore.start({ tls: { leaf: pki.leaf }, token: "right" });
    stores.push(store);
    const path = await relation({
      "remote-store-address": store.address,
      "remote-store-bearer-token": "wrong-secret",
    });
    const r = await runCli(
      ["check", "--relation", path, "--ca-file", join(dir, "ca.pem")],
      NO_ROOTS,
    );
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.diagnosis.code).toBe("UNAUTHENTICATED");
    expect(result.diagnosis.hint).toContain("remote-store-bearer-token");
    expect(r.stdout).not.toContain("wrong-secret");
  });

  it("never runs past --timeout-ms against a peer that says nothing", async () => {
    const silent = await silentEndpoint();
    stores.push({ stop: () => silent.close() });
    const path = await relation({
      "remote-store-address": `127.0.0.1:${silent.port}`,
      "remote-store-insecure": "true",
    });
    const started = Date.now();
    const r = await spawnCli(["check", "--relation", path, "--timeout-ms", "300"]);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.diagnosis.code).toBe("DEADLINE_EXCEEDED");
    // The check's own time: the budget, plus 1 s of slack for a loaded 2-core machine's timers.
    expect(result.durationMs).toBeGreaterThanOrEqual(300 - 10); // timers: a few ms either way
    expect(result.durationMs).toBeLessThanOrEqual(300 + 1000);
    // The process's: the budget, plus 5 s of slack for Node's start-up and loading the CLI.
    expect(Date.now() - started).toBeLessThanOrEqual(300 + 5000);
  });

  it("bad relation data: ok false, the relation problem as diagnosis, exit 2", async () => {
    const path = await relation({ "remote-store-address": "parca.example.com" });
    const r = await runCli(["check", "--relation", path]);
    expect(r.code).toBe(2);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ ok: false, stages: [], warnings: [] });
    expect(result.diagnosis).toMatchObject({ code: "INVALID_ADDRESS", path });
  });

  it("not configured: NOT_CONFIGURED, exit 2", async () => {
    const path = await relation({ "remote-store-address": "" });
    const r = await runCli(["check", "--relation", path]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).diagnosis.code).toBe("NOT_CONFIGURED");
  });

  it("--agent-version below 0.48: the Write stream is probed, so a store without WriteArrow passes", async () => {
    const store = await TestStore.start({ writeArrow: false });
    stores.push(store);
    const path = await relation({
      "remote-store-address": store.address,
      "remote-store-insecure": "true",
    });
    const recent = await runCli(["check", "--relation", path]);
    expect(recent.code).toBe(1);
    expect(JSON.parse(recent.stdout).diagnosis.code).toBe("STORE_TOO_OLD");
    const old = await runCli(["check", "--relation", path, "--agent-version", "v0.35.3"]);
    expect(old.code).toBe(0);
    expect(JSON.parse(old.stdout)).toMatchObject({ ok: true, warnings: [], writeRpc: "Write" });
  });

  it("refuses an unreadable --ca-file and a zero timeout as usage errors", async () => {
    const path = await relation({ "remote-store-address": "127.0.0.1:1" });
    const ca = await runCli(["check", "--relation", path, "--ca-file", "/nonexistent/ca.pem"]);
    expect(ca.code).toBe(2);
    expect(ca.stderr).toContain("--ca-file");
    const zero = await runCli(["check", "--relation", path, "--timeout-ms", "0"]);
    expect(zero.code).toBe(2);
  });
});

describe("check on a terminal", () => {
  /** The CLI in this process, its stdout a terminal. */
  async function onTty(args: readonly string[]) {
    let stdout = "";
    const code = await main(args, {
      out: (line) => {
        stdout += `${line}\n`;
      },
      err: () => undefined,
      env: {},
      isTty: true,
    });
    return { code, stdout };
  }

  it("prints a short summary; --json prints the CheckResult; the token never shows", async () => {
    const store = await TestStore.start({ token: "a-long-secret-token" });
    stores.push(store);
    const base = { "remote-store-address": store.address, "remote-store-insecure": "true" };
    const good = await relation({ ...base, "remote-store-bearer-token": "a-long-secret-token" });
    const ok = await onTty(["check", "--relation", good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      new RegExp(`^✓ ${store.address} \\(plaintext\\): ok in [\\d.]+ ms \\(dns → tcp → `),
    );
    expect(ok.stdout).toContain("warning TOKEN_OVER_PLAINTEXT");
    const json = await onTty(["check", "--json", "--relation", good]);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true });

    const wrong = await relation({
      ...base,
      "remote-store-bearer-token": "the-wrong-secret-token",
    });
    const failed = await onTty(["check", "--relation", wrong]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(
      new RegExp(`^✗ ${store.address} \\(plaintext\\): UNAUTHENTICATED — `),
    );
    expect(failed.stdout).toMatch(/^ {2}hint: .*remote-store-bearer-token/m);
    expect(failed.stdout).toMatch(/^ {2}stages: dns → tcp → .* ✗$/m);
    expect(failed.stdout + ok.stdout).not.toMatch(/a-long-secret-token|the-wrong-secret-token/);
  });
});
