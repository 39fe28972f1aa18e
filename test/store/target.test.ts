import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { kongBool, parseFlags } from "../../src/flag-names.js";
import { systemRoots } from "../../src/store/roots.js";
import { callMetadata } from "../../src/store/rpcs.js";
import { TargetError, targetFromArgv } from "../../src/store/target.js";
import { agentWriteRpc } from "../../src/store/version.js";
import { makePki } from "../support/certs.js";
import { tempDir } from "../support/tmp.js";

describe("targetFromArgv reads the argv as the agent (Kong) does", () => {
  it("takes the last address, Go booleans, headers in every form, IPv6 hosts", async () => {
    const t = await targetFromArgv(
      [
        "--remote-store-address=old:1",
        "--remote-store-insecure-skip-verify",
        "--remote-store-grpc-headers",
        "A=1;b=2",
        "--remote-store-grpc-headers=c=3",
        "--remote-store-address=[fd00::5]:7070",
        "--remote-store-insecure=Yes",
      ],
      {},
    );
    expect(t).toMatchObject({
      address: "[fd00::5]:7070",
      host: "fd00::5",
      port: 7070,
      insecure: true,
      skipVerify: true,
    });
    expect(t.headers).toEqual([
      ["a", "1"],
      ["b", "2"],
      ["c", "3"],
    ]);
  });

  it("flag and file both set: one authorization header, the file's (grpc-go merges them)", async () => {
    const file = join(await tempDir(), "t");
    await writeFile(file, "  from-file \n");
    const t = await targetFromArgv(
      ["--remote-store-bearer-token=from-flag", `--remote-store-bearer-token-file=${file}`],
      {
        PARCA_BEARER_TOKEN: "from-env",
      },
    );
    expect(t.tokens).toEqual(["from-flag", "from-file"]);
    expect(t.bearer).toBe("from-file");
    expect(callMetadata(t).authorization).toBe("Bearer from-file");
  });

  it("a bare boolean never swallows the next argument: only value flags take one", async () => {
    const t = await targetFromArgv(
      [
        "--node",
        "n1",
        "--analytics-opt-out",
        "--remote-store-address=10.0.0.5:7070",
        "--debuginfo-upload-disable",
        "--remote-store-insecure=true",
      ],
      {},
    );
    expect(t).toMatchObject({ address: "10.0.0.5:7070", insecure: true });
    const flags = parseFlags([
      "--http-address",
      "127.0.0.1:9999",
      "--analytics-opt-out",
      "--node",
      "n2",
      "--some-future-boolean",
      "--remote-store-insecure",
    ]);
    expect(Object.fromEntries(flags)).toEqual({
      "--http-address": ["127.0.0.1:9999"],
      "--analytics-opt-out": ["true"],
      "--node": ["n2"],
      "--some-future-boolean": ["true"],
      "--remote-store-insecure": ["true"],
    });
  });

  it.each([
    ["true", true],
    ["YES", true],
    ["1", true],
    ["No", false],
    ["0", false],
    ["FALSE", false],
    ["t", undefined],
    ["on", undefined],
  ])("Kong reads the boolean word %s as %s", (word, expected) => {
    expect(kongBool(word)).toBe(expected);
  });

  it("a boolean word Kong refuses is a TargetError: the agent would not start", async () => {
    await expect(
      targetFromArgv(["--remote-store-address=a:1", "--remote-store-insecure=t"], {}),
    ).rejects.toThrow(/true, 1, yes, false, 0 or no/);
  });

  it("an unreadable token file is a TargetError naming the flag", async () => {
    await expect(
      targetFromArgv(["--remote-store-bearer-token-file=/nonexistent/t"], {}),
    ).rejects.toBeInstanceOf(TargetError);
  });
});

describe("systemRoots loads what Go loads", () => {
  it("SSL_CERT_FILE replaces the bundle list; SSL_CERT_DIR's files are added", async () => {
    const pki = makePki();
    const dir = await tempDir();
    await writeFile(join(dir, "bundle.pem"), pki.ca.certPem + pki.leaf.certPem);
    const certs = join(dir, "certs");
    await import("node:fs/promises").then((fs) => fs.mkdir(certs));
    await writeFile(join(certs, "one.pem"), pki.client.certPem);
    await writeFile(join(certs, "junk.txt"), "not a cert");
    const roots = systemRoots({
      SSL_CERT_FILE: join(dir, "bundle.pem"),
      SSL_CERT_DIR: `${certs}:/nonexistent`,
    });
    expect(roots).toHaveLength(3);
    expect(roots[0]).toBe(pki.ca.certPem.trim());
  });
});

describe("agentWriteRpc: the RPC the agent writes with", () => {
  it.each([
    ["v0.35.3", undefined, "Write"],
    ["v0.41.0", true, "Write"], // no --remote-store-use-v2-schema before v0.47.1
    ["0.47.0", undefined, "Write"],
    ["v0.47.1", undefined, "Write"],
    ["v0.47.1", true, "WriteArrow"],
    ["0.48.0", undefined, "WriteArrow"],
    ["v0.49.0", false, "Write"],
    ["v1.0.0", undefined, "WriteArrow"],
    ["unknown", undefined, "WriteArrow"],
    [undefined, undefined, "WriteArrow"],
    [undefined, false, "Write"],
  ] as const)("%s with --remote-store-use-v2-schema=%s → %s", (version, v2, rpc) => {
    const write = agentWriteRpc(version, v2);
    expect(write.rpc).toBe(rpc);
    expect(write.why).not.toBe("");
  });

  it("reads --remote-store-use-v2-schema from the argv, bare or with a Kong boolean word", async () => {
    expect((await targetFromArgv(["--remote-store-use-v2-schema"], {})).useV2Schema).toBe(true);
    expect((await targetFromArgv(["--remote-store-use-v2-schema=No"], {})).useV2Schema).toBe(false);
    expect((await targetFromArgv([], {})).useV2Schema).toBeUndefined();
  });
});
