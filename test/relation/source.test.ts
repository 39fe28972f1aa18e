import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCapped, readSource, type SourceRead } from "../../src/relation/source.js";
import { MAX_SOURCE_BYTES, type StoreConfig } from "../../src/relation/types.js";
import { KeyDirectory } from "../support/keydir.js";
import { itWhere } from "../support/must-run.js";
import { tempDir } from "../support/tmp.js";

const NOBODY = 65534;

/**
 * Runs `work` with the effective uid of nobody when this process is root (whose reads no mode
 * refuses), and back to root after it. glibc's seteuid applies to every thread, libuv's file
 * threads included.
 */
async function unprivileged<T>(work: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0 || process.seteuid === undefined) return work();
  process.seteuid(NOBODY);
  try {
    return await work();
  } finally {
    process.seteuid(0);
  }
}

async function readText(content: string | Uint8Array, name = "relation"): Promise<SourceRead> {
  const dir = await tempDir();
  const path = join(dir, name);
  await writeFile(path, content);
  return readSource(path);
}

function configOf(read: SourceRead): StoreConfig {
  if (read.kind !== "configured") throw new Error(`expected a config, got ${JSON.stringify(read)}`);
  return read.config;
}

function codeOf(read: SourceRead): string {
  return read.kind === "error" ? read.error.code : `not an error: ${read.kind}`;
}

describe("databags exactly as a parca_store provider writes them", () => {
  it("reads relation-get --format=json output", async () => {
    expect(
      configOf(
        await readText('{"remote-store-address":"10.0.0.5:7070","remote-store-insecure":"true"}'),
      ),
    ).toEqual({
      address: "10.0.0.5:7070",
      insecure: true,
    });
    expect(
      configOf(
        await readText(
          '{"remote-store-address":"parca.example.com:7993","remote-store-insecure":"false"}',
        ),
      ),
    ).toEqual({ address: "parca.example.com:7993", insecure: false });
    expect(
      configOf(
        await readText(
          '{"remote-store-address":"parca.example.com:443","remote-store-bearer-token":"s3cr3t","remote-store-insecure":"false"}\n',
        ),
      ),
    ).toEqual({ address: "parca.example.com:443", insecure: false, token: "s3cr3t" });
  });

  it("reads relation-get's default YAML output, quoted or not", async () => {
    const yaml = 'remote-store-address: 10.0.0.5:7070\nremote-store-insecure: "true"\n';
    expect(configOf(await readText(yaml))).toEqual({ address: "10.0.0.5:7070", insecure: true });
    const plain =
      "remote-store-address: parca.example.com:443\nremote-store-insecure: false\nremote-store-bearer-token: 0x1F\n";
    expect(configOf(await readText(plain))).toEqual({
      address: "parca.example.com:443",
      insecure: false,
      token: "0x1F",
    });
    const caps = "remote-store-address: '[fd00::5]:7070'\nremote-store-insecure: TRUE\n";
    expect(configOf(await readText(caps))).toEqual({ address: "[fd00::5]:7070", insecure: true });
  });

  it("ignores unit databag keys and unknown keys", async () => {
    const bag = {
      "egress-subnets": "10.1.0.0/24",
      "ingress-address": "10.1.0.7",
      "private-address": "10.1.0.7",
      "remote-store-address": "parca-k8s.parca.svc.cluster.local:7070",
      "remote-store-insecure": "true",
    };
    expect(configOf(await readText(JSON.stringify(bag)))).toEqual({
      address: "parca-k8s.parca.svc.cluster.local:7070",
      insecure: true,
    });
  });

  it("treats the requirer library's empty config as not configured, not as an error", async () => {
    const empty =
      '{"remote-store-address":"","remote-store-insecure":"","remote-store-bearer-token":""}';
    expect((await readText(empty)).kind).toBe("unconfigured");
    expect((await readText("")).kind).toBe("unconfigured");
    expect((await readText("  \n\t\n")).kind).toBe("unconfigured");
    expect((await readText("{}")).kind).toBe("unconfigured");
    expect((await readText("# nothing yet\n")).kind).toBe("unconfigured");
    expect((await readText("remote-store-insecure: 'true'\n")).kind).toBe("unconfigured");
  });

  it("trims values and treats a missing insecure key as TLS", async () => {
    const bag = {
      "remote-store-address": "  parca:7070\n",
      "remote-store-bearer-token": "\ttok-en\n",
    };
    expect(configOf(await readText(JSON.stringify(bag)))).toEqual({
      address: "parca:7070",
      insecure: false,
      token: "tok-en",
    });
  });

  it("detects the format by content, whatever the file is called", async () => {
    expect(configOf(await readText("remote-store-address: a:1\n", "data.json")).address).toBe(
      "a:1",
    );
    expect(configOf(await readText('{"remote-store-address":"b:2"}', "data.yaml")).address).toBe(
      "b:2",
    );
  });

  it("reports a missing path as missing", async () => {
    const dir = await tempDir();
    expect((await readSource(join(dir, "nope"))).kind).toBe("missing");
    expect((await readSource(join(dir, "nope", "deeper"))).kind).toBe("missing");
  });
});

describe("Kubernetes key directories", () => {
  it("reads key files through the ..data symlink and follows its atomic swap", async () => {
    const dir = join(await tempDir(), "store");
    const volume = new KeyDirectory(dir);
    await volume.write({
      "remote-store-address": "parca.parca.svc:7070\n",
      "remote-store-insecure": "true\n",
    });
    expect(configOf(await readSource(dir))).toEqual({
      address: "parca.parca.svc:7070",
      insecure: true,
    });
    await volume.write({
      "remote-store-address": "parca.example.com:443\n",
      "remote-store-insecure": "false\n",
      "remote-store-bearer-token": "rotated-token\n",
    });
    expect(configOf(await readSource(dir))).toEqual({
      address: "parca.example.com:443",
      insecure: false,
      token: "rotated-token",
    });
    await volume.write({ "remote-store-address": "parca.example.com:443\n" });
    expect(configOf(await readSource(dir))).toEqual({
      address: "parca.example.com:443",
      insecure: false,
    });
  });

  it("treats a directory without key files as not configured", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "unrelated"), "x");
    expect((await readSource(dir)).kind).toBe("unconfigured");
  });

  it("reports a bad value in a key file with its code", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "remote-store-address"), "parca.example.com\n");
    expect(codeOf(await readSource(dir))).toBe("INVALID_ADDRESS");
    await writeFile(join(dir, "remote-store-address"), "parca:7070");
    await writeFile(
      join(dir, "remote-store-bearer-token"),
      Buffer.from([0x74, 0x00, 0xff, 0x0a, 0x62]),
    );
    expect(codeOf(await readSource(dir))).toBe("INVALID_TOKEN");
  });

  it("reports a key that is a directory as UNREADABLE", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "remote-store-address"));
    const read = await readSource(dir);
    expect(codeOf(read)).toBe("UNREADABLE");
    expect(read.kind === "error" && read.error.path).toBe(dir);
  });
});

describe("every error code", () => {
  it("MALFORMED: binary garbage, invalid UTF-8, non-mappings, nesting, broken YAML", async () => {
    const garbage = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256));
    expect(codeOf(await readText(garbage))).toBe("MALFORMED");
    expect(codeOf(await readText(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])))).toBe("MALFORMED");
    expect(codeOf(await readText('["remote-store-address"]'))).toBe("MALFORMED");
    expect(codeOf(await readText('"10.0.0.5:7070"'))).toBe("MALFORMED");
    expect(codeOf(await readText("10.0.0.5:7070"))).toBe("MALFORMED");
    expect(codeOf(await readText('{"remote-store-address":{"host":"a","port":1}}'))).toBe(
      "MALFORMED",
    );
    expect(codeOf(await readText("remote-store-address:\n  - a:1\n"))).toBe("MALFORMED");
    expect(codeOf(await readText("remote-store-address: [a\n"))).toBe("MALFORMED");
    expect(codeOf(await readText("a: 1\na: 2\n"))).toBe("MALFORMED");
    expect(
      codeOf(await readText("remote-store-address: a:1\n---\nremote-store-address: b:2\n")),
    ).toBe("MALFORMED");
  });

  it("MALFORMED messages never quote the input (parsers do)", async () => {
    const read = await readText('{"remote-store-bearer-token": "hunter2-secret",, ]');
    expect(codeOf(read)).toBe("MALFORMED");
    const text = read.kind === "error" ? `${read.error.message} ${read.error.hint}` : "";
    expect(text).not.toContain("hunter2");
  });

  it("TOO_LARGE: a 2 MiB file", async () => {
    const big = `{"remote-store-address":"a:1","pad":"${"x".repeat(2 * 1024 * 1024)}"}`;
    const read = await readText(big);
    expect(codeOf(read)).toBe("TOO_LARGE");
    expect(read.kind === "error" && read.error.hint).toMatch(/--relation/);
  });

  it("reads exactly the limit, and refuses one byte more", async () => {
    const dir = await tempDir();
    const bytes = Buffer.alloc(MAX_SOURCE_BYTES + 1, 0x61);
    await writeFile(join(dir, "at"), bytes.subarray(0, MAX_SOURCE_BYTES));
    await writeFile(join(dir, "over"), bytes);
    expect(Buffer.from(await readCapped(join(dir, "at"))).equals(bytes.subarray(0, -1))).toBe(true);
    await expect(readCapped(join(dir, "over"))).rejects.toMatchObject({ code: "TOO_LARGE" });
    await writeFile(join(dir, "empty"), "");
    expect((await readCapped(join(dir, "empty"))).length).toBe(0);
  });

  // procfs files report size 0 to stat: the buffer must grow while reading, up to the limit.
  itWhere(existsSync("/proc/self/smaps"), "no /proc/self/smaps (not Linux)")(
    "a file larger than stat says is read whole",
    async () => {
      const text = Buffer.from(await readCapped("/proc/self/smaps")).toString();
      expect(text.length).toBeGreaterThan(8192);
      expect(text.endsWith("\n")).toBe(true);
      expect(
        text
          .split("\n")
          .filter(Boolean)
          .every((l) => /^([0-9a-f]+-|\w+:)/.test(l)),
      ).toBe(true);
    },
  );

  itWhere(existsSync("/proc/kallsyms"), "no /proc/kallsyms (not Linux)")(
    "TOO_LARGE: a file that stat calls empty but holds more than the limit",
    async () => {
      const read = await readSource("/proc/kallsyms");
      expect(codeOf(read)).toBe("TOO_LARGE");
    },
  );

  it("UNREADABLE: a FIFO, a symlink loop", async () => {
    const dir = await tempDir();
    execFileSync("mkfifo", [join(dir, "fifo")]);
    await symlink("loop-b", join(dir, "loop-a"));
    await symlink("loop-a", join(dir, "loop-b"));
    expect(codeOf(await readSource(join(dir, "loop-a")))).toBe("UNREADABLE");
    expect(existsSync(join(dir, "fifo"))).toBe(true);
    expect(codeOf(await readSource(join(dir, "fifo")))).toBe("UNREADABLE");
  });

  it("UNREADABLE: permission denied (read as nobody: root reads anything)", async () => {
    const dir = await tempDir();
    await chmod(dir, 0o755);
    const path = join(dir, "relation.json");
    await writeFile(path, '{"remote-store-address":"a:1"}', { mode: 0o000 });
    const read = await unprivileged(() => readSource(path));
    expect(codeOf(read)).toBe("UNREADABLE");
    expect(read.kind === "error" && read.error.message).toContain("permission denied");
  });

  it("INVALID_INSECURE: anything but true/false, YAML 1.1 booleans included", async () => {
    for (const value of ["yes", "on", "1", "tru", "plaintext"]) {
      const read = await readText(
        JSON.stringify({ "remote-store-address": "a:1", "remote-store-insecure": value }),
      );
      expect(codeOf(read), value).toBe("INVALID_INSECURE");
      expect(read.kind === "error" && read.error.hint).toContain('"true"');
    }
    expect(codeOf(await readText("remote-store-address: a:1\nremote-store-insecure: yes\n"))).toBe(
      "INVALID_INSECURE",
    );
  });

  it("INVALID_TOKEN: control characters, spaces, non-ASCII, over 8 KiB — never echoed", async () => {
    const tokens = [
      "tok\u0001en-secret",
      "two words-secret",
      "tökén-secret",
      `secret-${"a".repeat(8 * 1024)}`,
    ];
    for (const token of tokens) {
      const read = await readText(
        JSON.stringify({ "remote-store-address": "a:1", "remote-store-bearer-token": token }),
      );
      expect(codeOf(read)).toBe("INVALID_TOKEN");
      const text = read.kind === "error" ? `${read.error.message} ${read.error.hint}` : "";
      expect(text).not.toContain("secret");
    }
    const max = "t".repeat(8 * 1024);
    expect(
      configOf(
        await readText(
          JSON.stringify({ "remote-store-address": "a:1", "remote-store-bearer-token": max }),
        ),
      ).token,
    ).toBe(max);
  });
});
