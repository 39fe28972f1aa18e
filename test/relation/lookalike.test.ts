// Keys that look like the relation's but are not, and a single key file as the source: each
// gets a warning (or hint) that names what was meant.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lookalikeOf } from "../../src/relation/lookalike.js";
import { readSource } from "../../src/relation/source.js";
import { resolveSources } from "../../src/relation/sources.js";
import { tempDir } from "../support/tmp.js";

describe("lookalike keys", () => {
  it("folds case, '_' and '.', and allows two edits; Juju's own keys are not lookalikes", () => {
    expect(lookalikeOf("remote_store_address")).toBe("remote-store-address");
    expect(lookalikeOf("Remote-Store-Insecure")).toBe("remote-store-insecure");
    expect(lookalikeOf("remote-store-adress")).toBe("remote-store-address");
    expect(lookalikeOf("remote-store-bearer-tokn")).toBe("remote-store-bearer-token");
    expect(lookalikeOf("remote-store-address")).toBeUndefined();
    for (const juju of ["private-address", "ingress-address", "egress-subnets", "address"])
      expect(lookalikeOf(juju)).toBeUndefined();
  });

  it("a JSON source with remote_store_address: UNKNOWN_KEYS with 'did you mean', and not configured", async () => {
    const dir = await tempDir();
    const path = join(dir, "relation.json");
    await writeFile(path, '{"remote_store_address":"10.0.0.5:7070","private-address":"10.0.0.9"}');
    const r = await resolveSources([path]);
    expect(r.decision.kind).toBe("unconfigured");
    expect(r.warnings).toEqual([
      expect.objectContaining({
        code: "UNKNOWN_KEYS",
        path,
        message: expect.stringContaining(
          "remote_store_address (did you mean remote-store-address?)",
        ),
      }),
    ]);
    expect(r.warnings[0]?.message).not.toContain("private-address");
    if (r.decision.kind === "unconfigured")
      expect(r.decision.reason).toContain("did you mean remote-store-address?");
  });

  it("a configured source with a misspelt extra key still applies, with the warning", async () => {
    const dir = await tempDir();
    const path = join(dir, "relation.yaml");
    await writeFile(path, 'remote-store-address: "10.0.0.5:7070"\nremote-store-insecur: "true"\n');
    const r = await resolveSources([path]);
    expect(r.decision).toMatchObject({ kind: "configured", config: { insecure: false } });
    expect(r.warnings.map((w) => w.code)).toEqual(["UNKNOWN_KEYS"]);
    expect(r.warnings[0]?.message).toContain("did you mean remote-store-insecure?");
  });

  it("a key directory with a misspelt key file, or holding parca-store.json", async () => {
    const dir = await tempDir();
    const keys = join(dir, "keys");
    await mkdir(keys);
    await writeFile(join(keys, "remote-store-adress"), "10.0.0.5:7070");
    const typo = await readSource(keys);
    expect(typo).toMatchObject({ kind: "unconfigured" });
    expect(typo.kind === "unconfigured" && typo.lookalike?.message).toContain(
      "remote-store-adress (did you mean remote-store-address?)",
    );
    const nested = join(dir, "nested");
    await mkdir(nested);
    await writeFile(join(nested, "parca-store.json"), '{"remote-store-address":"10.0.0.5:7070"}');
    const r = await resolveSources([nested]);
    expect(r.warnings).toEqual([
      expect.objectContaining({
        code: "UNKNOWN_KEYS",
        message: `relation source ${nested} is a directory holding parca-store.json, not key files`,
        hint: expect.stringContaining(`--relation ${join(nested, "parca-store.json")}`),
      }),
    ]);
  });

  it("a single key file as the source: MALFORMED with a hint to point at its directory", async () => {
    const dir = await tempDir();
    const file = join(dir, "remote-store-address");
    await writeFile(file, "10.0.0.5:7070");
    const r = await readSource(file);
    expect(r.kind).toBe("error");
    if (r.kind !== "error") return;
    expect(r.error.code).toBe("MALFORMED");
    expect(r.error.message).toBe(`${file} is a single key file, not a relation source`);
    expect(r.error.hint).toContain(`--relation ${dir}`);
  });
});
