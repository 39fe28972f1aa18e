import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, spawnCli } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

async function relation(content: string, name = "relation.json"): Promise<string> {
  const path = join(await tempDir(), name);
  await writeFile(path, content);
  return path;
}

const INSECURE = '{"remote-store-address":"10.0.0.5:7070","remote-store-insecure":"true"}';
const WITH_TOKEN =
  '{"remote-store-address":"parca.example.com:443","remote-store-bearer-token":"s3cr3t","remote-store-insecure":"false"}';

describe("parca-agent-sidecar render (the built binary)", () => {
  it("prints the RenderResult exactly as the contract shows it", async () => {
    const path = await relation(INSECURE);
    const r = await spawnCli(["render", "--relation", path, "--", "--node=n1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      '{"configured":true,"reason":"","store":{"address":"10.0.0.5:7070","insecure":true,"tokenSet":false},' +
        '"argv":["--node=n1","--remote-store-address=10.0.0.5:7070","--remote-store-insecure=true"],"warnings":[]}\n',
    );
  });

  it("exits 2 with a coded error for bad relation data", async () => {
    const path = await relation('{"remote-store-address":"parca.example.com"}');
    const r = await spawnCli(["render", "--relation", path]);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout);
    expect(out.configured).toBe(false);
    expect(out.error).toMatchObject({ code: "INVALID_ADDRESS", path });
    expect(out.error.hint).toContain("parca.example.com:7070");
  });

  it("answers --help and --version, and exits 2 on unknown options", async () => {
    const help = await spawnCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("parca-agent-sidecar render");
    const version = await spawnCli(["--version"]);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const bad = await spawnCli(["render", "--relaton", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain("--relaton");
  });
});

describe("render", () => {
  it("redacts the token unless --show-token", async () => {
    const path = await relation(WITH_TOKEN);
    const hidden = await runCli([
      "render",
      "--relation",
      path,
      "--",
      "--remote-store-bearer-token=old",
    ]);
    expect(hidden.code).toBe(0);
    expect(hidden.stdout).not.toContain("s3cr3t");
    expect(JSON.parse(hidden.stdout).argv).toEqual([
      "--remote-store-address=parca.example.com:443",
      "--remote-store-insecure=false",
      "--remote-store-bearer-token=<redacted>",
    ]);
    expect(JSON.parse(hidden.stdout).store).toEqual({
      address: "parca.example.com:443",
      insecure: false,
      tokenSet: true,
    });
    const shown = await runCli(["render", "--relation", path, "--show-token"]);
    expect(JSON.parse(shown.stdout).argv).toContain("--remote-store-bearer-token=s3cr3t");
  });

  it("token mode file names the file under the state dir and writes nothing", async () => {
    const path = await relation(WITH_TOKEN);
    const stateDir = join(await tempDir(), "state");
    const r = await runCli([
      "render",
      "--relation",
      path,
      "--token-mode",
      "file",
      "--state-dir",
      stateDir,
    ]);
    expect(JSON.parse(r.stdout).argv).toContain(
      `--remote-store-bearer-token-file=${join(stateDir, "bearer-token")}`,
    );
    expect(r.stdout).not.toContain("s3cr3t");
    expect(existsSync(stateDir)).toBe(false);
  });

  it("not configured: configured false, a reason, argv = base args, exit 0", async () => {
    const path = await relation(
      '{"remote-store-address":"","remote-store-insecure":"","remote-store-bearer-token":""}',
    );
    const r = await runCli([
      "render",
      "--relation",
      path,
      "--",
      "--node=n1",
      "--remote-store-address=x:1",
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      configured: false,
      argv: ["--node=n1", "--remote-store-address=x:1"],
      warnings: [],
    });
    expect(out.reason).toContain(path);
    expect(out.store).toBeUndefined();
  });

  it("exits 2 with SOURCE_MISSING for a path that does not exist (a typo, not 'not configured')", async () => {
    const dir = await tempDir();
    const r = await runCli(["render", "--relation", join(dir, "typo.json")]);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout);
    expect(out.error).toMatchObject({ code: "SOURCE_MISSING", path: join(dir, "typo.json") });
    expect(out.warnings).toMatchObject([{ code: "SOURCE_MISSING", path: join(dir, "typo.json") }]);
    const check = await runCli(["check", "--relation", join(dir, "typo.json")]);
    expect(check.code).toBe(2);
    expect(JSON.parse(check.stdout).diagnosis).toMatchObject({ code: "SOURCE_MISSING" });
  });

  it("a missing path beside a configured source is only a warning", async () => {
    const dir = await tempDir();
    const insecure = await relation(INSECURE);
    const r = await runCli([
      "render",
      "--relation",
      join(dir, "typo.json"),
      "--relation",
      insecure,
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).warnings).toMatchObject([{ code: "SOURCE_MISSING" }]);
  });

  it("reads PARCA_SIDECAR_RELATION (':'-separated) and lets --relation replace it", async () => {
    const insecure = await relation(INSECURE);
    const token = await relation(WITH_TOKEN);
    const fromEnv = await runCli(["render"], {
      PARCA_SIDECAR_RELATION: `/nonexistent/a:${insecure}`,
    });
    expect(JSON.parse(fromEnv.stdout).store.address).toBe("10.0.0.5:7070");
    const flag = await runCli(["render", "--relation", token], {
      PARCA_SIDECAR_RELATION: insecure,
    });
    expect(JSON.parse(flag.stdout).store.address).toBe("parca.example.com:443");
    const mode = await runCli(["render", "--relation", token], {
      PARCA_SIDECAR_TOKEN_MODE: "file",
    });
    expect(JSON.parse(mode.stdout).argv.at(-1)).toMatch(/^--remote-store-bearer-token-file=/);
  });

  it("refuses bad option values in one line naming the option", async () => {
    const r = await runCli(["render", "--token-mode", "env"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--token-mode must be one of flag, file/);
    const env = await runCli(["render"], { PARCA_SIDECAR_TOKEN_MODE: "nope" });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain("PARCA_SIDECAR_TOKEN_MODE");
    const missing = await runCli(["render", "--relation"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--relation");
  });

  it("a flag-injection attempt through the address is refused, not rendered", async () => {
    const path = await relation(
      '{"remote-store-address":"x:1 --remote-store-insecure-skip-verify"}',
    );
    const r = await runCli(["render", "--relation", path]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).argv).toEqual([]);
  });
});
