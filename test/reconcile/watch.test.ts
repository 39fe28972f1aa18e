import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { RelationWatcher } from "../../src/reconcile/watch.js";
import { readSource } from "../../src/relation/source.js";
import { KeyDirectory } from "../support/keydir.js";
import { capturedLogger } from "../support/logs.js";
import { waitFor } from "../support/procs.js";
import { tempDir } from "../support/tmp.js";

const watchers: RelationWatcher[] = [];
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
});

const { log } = capturedLogger("silent");

/** A watcher whose every debounced change records what the source holds at that moment. */
async function watching(path: string, debounceMs = 30) {
  const seen: string[] = [];
  const watcher = new RelationWatcher({
    paths: [path],
    debounceMs,
    log,
    onChange: () => {
      void readSource(path).then((r) =>
        seen.push(r.kind === "configured" ? r.config.address : r.kind),
      );
    },
  });
  watchers.push(watcher);
  await watcher.start();
  return seen;
}

const bag = (address: string) => JSON.stringify({ "remote-store-address": address });

describe("RelationWatcher", () => {
  it("sees a file created, deleted and created again", async () => {
    const dir = await tempDir();
    const path = join(dir, "relation.json");
    const seen = await watching(path);
    await writeFile(path, bag("a:1"));
    await waitFor("a:1", () => seen.at(-1) === "a:1");
    await rm(path);
    await waitFor("missing", () => seen.at(-1) === "missing");
    await writeFile(path, bag("b:2"));
    await waitFor("b:2", () => seen.at(-1) === "b:2");
  });

  it("the last of quick rename-overs wins (chokidar would drop changes 50 ms apart)", async () => {
    const dir = await tempDir();
    const path = join(dir, "relation.json");
    await writeFile(path, bag("start:1"));
    const seen = await watching(path, 100);
    for (let i = 1; i <= 6; i++) {
      await writeFile(`${path}.tmp`, bag(`host${i}:1`));
      await rename(`${path}.tmp`, path);
      await sleep(40);
    }
    await waitFor("the last write", () => seen.at(-1) === "host6:1");
    // Quiet afterwards: no further change, and the last one seen stays the last write.
    await sleep(300);
    expect(seen.at(-1)).toBe("host6:1");
  });

  it("follows a source whose directory does not exist yet", async () => {
    const dir = await tempDir();
    const path = join(dir, "relations", "parca-store", "relation.json");
    const seen = await watching(path);
    await mkdir(join(dir, "relations", "parca-store"), { recursive: true });
    await sleep(100);
    await writeFile(path, bag("late:1"));
    await waitFor("late:1", () => seen.at(-1) === "late:1");
  });

  it("follows a key directory through ..data swaps, and its replacement by a file", async () => {
    const dir = await tempDir();
    const path = join(dir, "secret");
    const volume = new KeyDirectory(path);
    await volume.write({ "remote-store-address": "v1:1\n" });
    const seen = await watching(path);
    await volume.write({ "remote-store-address": "v2:1\n" });
    await waitFor("v2", () => seen.at(-1) === "v2:1");
    await volume.write({ "remote-store-address": "v3:1\n" });
    await waitFor("v3", () => seen.at(-1) === "v3:1");
    await rm(path, { recursive: true });
    await writeFile(path, bag("file:1"));
    await waitFor("file", () => seen.at(-1) === "file:1");
  });

  it("ignores unrelated files next to the source", async () => {
    const dir = await tempDir();
    const path = join(dir, "relation.json");
    await writeFile(path, bag("a:1"));
    const seen = await watching(path, 10);
    for (let i = 0; i < 5; i++) await writeFile(join(dir, "other.log"), `line ${i}\n`);
    await sleep(200);
    expect(seen).toEqual([]);
  });
});
