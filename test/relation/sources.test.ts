import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveSources } from "../../src/relation/sources.js";
import { tempDir } from "../support/tmp.js";

async function files(contents: Record<string, string>): Promise<(name: string) => string> {
  const dir = await tempDir();
  for (const [name, content] of Object.entries(contents)) await writeFile(join(dir, name), content);
  return (name) => join(dir, name);
}

const A = '{"remote-store-address":"a.example.com:443"}';
const B = '{"remote-store-address":"b.example.com:443"}';
const BAD = '{"remote-store-address":"https://c.example.com/parca"}';

describe("several relation sources", () => {
  it("the first configured source decides; a different later one gets CONFLICT", async () => {
    const at = await files({ a: A, b: B, same: A });
    const r = await resolveSources([at("a"), at("same"), at("b")]);
    expect(r.decision).toEqual({
      kind: "configured",
      path: at("a"),
      config: { address: "a.example.com:443", insecure: false },
    });
    expect(r.sources.map((s) => s.configured)).toEqual([true, true, true]);
    expect(r.sources[1]?.warnings).toEqual([]);
    expect(r.sources[2]?.warnings.map((w) => w.code)).toEqual(["CONFLICT"]);
    expect(r.warnings[0]?.path).toBe(at("b"));
  });

  it("a token-only difference is a conflict too", async () => {
    const at = await files({
      a: A,
      t: '{"remote-store-address":"a.example.com:443","remote-store-bearer-token":"x"}',
    });
    const r = await resolveSources([at("a"), at("t")]);
    // A one-character token is also weak: redacted only where it stands as a value.
    expect(r.warnings.map((w) => w.code)).toEqual(["WEAK_TOKEN", "CONFLICT"]);
    expect(JSON.stringify(r.warnings)).not.toContain('"x"');
  });

  it("a token shorter than 8 characters gets WEAK_TOKEN; 8 or more does not", async () => {
    const at = await files({
      weak: '{"remote-store-address":"a.example.com:443","remote-store-bearer-token":"s3cr3t"}',
      strong: '{"remote-store-address":"a.example.com:443","remote-store-bearer-token":"s3cr3t-1"}',
    });
    const weak = await resolveSources([at("weak")]);
    expect(weak.warnings.map((w) => [w.code, w.path])).toEqual([["WEAK_TOKEN", at("weak")]]);
    expect(JSON.stringify(weak.warnings)).not.toContain("s3cr3t");
    expect((await resolveSources([at("strong")])).warnings).toEqual([]);
  });

  it("unconfigured and missing sources are passed over", async () => {
    const at = await files({ empty: "", b: B });
    const r = await resolveSources([at("missing"), at("empty"), at("b")], { reportMissing: true });
    expect(r.decision.kind).toBe("configured");
    expect(r.decision.kind === "configured" && r.decision.config.address).toBe("b.example.com:443");
    expect(r.warnings.map((w) => [w.code, w.path])).toEqual([["SOURCE_MISSING", at("missing")]]);
  });

  it("the first source in error decides: nothing changes, even if a later one is configured", async () => {
    const at = await files({ bad: BAD, b: B });
    const r = await resolveSources([at("bad"), at("b")]);
    expect(r.decision.kind).toBe("error");
    expect(r.decision.kind === "error" && r.decision.error.code).toBe("INVALID_ADDRESS");
    expect(r.sources[0]?.error?.path).toBe(at("bad"));
    expect(r.sources[1]?.configured).toBe(true);
  });

  it("a later source in error is reported on that source but does not decide", async () => {
    const at = await files({ a: A, bad: BAD });
    const r = await resolveSources([at("a"), at("bad")]);
    expect(r.decision.kind).toBe("configured");
    expect(r.sources[1]?.error?.code).toBe("INVALID_ADDRESS");
  });

  it("nothing configured anywhere says why", async () => {
    const at = await files({ empty: "{}" });
    const r = await resolveSources([at("empty"), at("missing")]);
    expect(r.decision.kind).toBe("unconfigured");
    expect(r.decision.kind === "unconfigured" && r.decision.reason).toContain(
      `${at("missing")} does not exist`,
    );
    expect(r.warnings).toEqual([]);
  });
});

describe("relation warnings and hints an operator needs", () => {
  it("a token over plaintext gets TOKEN_OVER_PLAINTEXT; over TLS it does not", async () => {
    const at = await files({
      plain:
        '{"remote-store-address":"a.example.com:7070","remote-store-insecure":"true","remote-store-bearer-token":"secret-token-1"}',
      tls: '{"remote-store-address":"a.example.com:443","remote-store-insecure":"false","remote-store-bearer-token":"secret-token-1"}',
    });
    const plain = await resolveSources([at("plain")]);
    expect(plain.warnings.map((w) => w.code)).toEqual(["TOKEN_OVER_PLAINTEXT"]);
    expect(JSON.stringify(plain.warnings)).not.toContain("secret-token-1");
    expect((await resolveSources([at("tls")])).warnings).toEqual([]);
  });

  it("a token written as 'Bearer abc' is INVALID_TOKEN with a hint to drop the prefix", async () => {
    const at = await files({
      bearer:
        '{"remote-store-address":"a.example.com:443","remote-store-bearer-token":"Bearer abc"}',
    });
    const r = await resolveSources([at("bearer")]);
    expect(r.decision.kind).toBe("error");
    const e = r.decision.kind === "error" ? r.decision.error : undefined;
    expect(e?.code).toBe("INVALID_TOKEN");
    expect(e?.hint).toContain('drop the "Bearer " prefix');
    expect(e?.message).not.toContain("abc");
  });
});
