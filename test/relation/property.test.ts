import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toStoreConfig } from "../../src/relation/config.js";
import { parseDatabag } from "../../src/relation/content.js";
import { RelationError } from "../../src/relation/errors.js";
import { readSource } from "../../src/relation/source.js";
import { tempDir } from "../support/tmp.js";

const MARK = "Zq9SECRETzq9";

/** Values that stress every rule: plausible addresses, junk, control characters, unicode. */
const value = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom(
    "true",
    "false",
    "TRUE",
    "yes",
    "",
    " ",
    "10.0.0.5:7070",
    "[::1]:7070",
    "https://x:1",
    "http://x",
    "https://x/p",
  ),
  fc
    .tuple(fc.domain(), fc.integer({ min: -1, max: 70000 }))
    .map(([host, port]) => `${host}:${port}`),
);
const token = fc
  .oneof(fc.string(), fc.string({ unit: "binary" }), fc.constant(""))
  .map((t) => `${t}${MARK}${t}`);

const databag = fc.record(
  {
    "remote-store-address": value,
    "remote-store-insecure": value,
    "remote-store-bearer-token": token,
    extra: value,
  },
  { requiredKeys: [] },
);

/** Either a valid config or a coded RelationError; never another exception, never the token. */
function classify(run: () => unknown, secret: string | undefined): void {
  try {
    const config = run();
    if (config !== undefined) {
      expect(config).toHaveProperty("address");
    }
  } catch (err) {
    expect(err).toBeInstanceOf(RelationError);
    const e = err as RelationError;
    expect([
      "UNREADABLE",
      "MALFORMED",
      "TOO_LARGE",
      "INVALID_ADDRESS",
      "INVALID_INSECURE",
      "INVALID_TOKEN",
    ]).toContain(e.code);
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.hint.length).toBeGreaterThan(0);
    if (secret !== undefined) {
      expect(`${e.message}\n${e.hint}`).not.toContain(MARK);
    }
  }
}

describe("any relation input", () => {
  it("yields a config, not-configured, or a coded error without the token (JSON and YAML)", () => {
    fc.assert(
      fc.property(databag, fc.boolean(), (bag, asYaml) => {
        const text = asYaml
          ? Object.entries(bag)
              .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
              .join("\n")
          : JSON.stringify(bag);
        classify(() => {
          const parsed = parseDatabag(Buffer.from(text, "utf8"));
          return parsed === undefined ? undefined : toStoreConfig(parsed)?.config;
        }, bag["remote-store-bearer-token"]);
      }),
      { numRuns: 2000 },
    );
  });

  it("arbitrary bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        classify(() => {
          const parsed = parseDatabag(bytes);
          return parsed === undefined ? undefined : toStoreConfig(parsed)?.config;
        }, undefined);
      }),
      { numRuns: 2000 },
    );
  });

  it("through real files, readSource never rejects and never leaks the token", async () => {
    const dir = await tempDir();
    const path = join(dir, "relation");
    await fc.assert(
      fc.asyncProperty(databag, async (bag) => {
        await writeFile(path, JSON.stringify(bag));
        const read = await readSource(path);
        expect(["configured", "unconfigured", "error"]).toContain(read.kind);
        if (read.kind === "error")
          expect(JSON.stringify(read.error.toProblem())).not.toContain(MARK);
      }),
      { numRuns: 300 },
    );
  });
});
