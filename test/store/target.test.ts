import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { systemRoots } from "../../src/store/roots.js";
import { TargetError, targetFromArgv } from "../../src/store/target.js";
import { agentPredatesArrow } from "../../src/store/version.js";
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
        "--remote-store-insecure=T",
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

  it("flag and file both set: two credentials, as the agent attaches", async () => {
    const file = join(await tempDir(), "t");
    await writeFile(file, "  from-file \n");
    const t = await targetFromArgv(
      ["--remote-store-bearer-token=from-flag", `--remote-store-bearer-token-file=${file}`],
      {
        PARCA_BEARER_TOKEN: "from-env",
      },
    );
    expect(t.tokens).toEqual(["from-flag", "from-file"]);
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

describe("agentPredatesArrow", () => {
  it.each([
    ["v0.35.3", true],
    ["0.47.9", true],
    ["0.48.0", false],
    ["v1.0.0", false],
    ["unknown", false],
    [undefined, false],
  ])("%s → %s", (version, old) => {
    expect(agentPredatesArrow(version)).toBe(old);
  });
});
