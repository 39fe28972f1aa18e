import { watch as fsWatch } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { readSource } from "../../src/relation/source.js";
import { RelationWatcher } from "../../src/relation/watch.js";
import { KeyDirectory } from "../support/keydir.js";
import { capturedLogger } from "../support/logs.js";
import { waitFor } from "../support/procs.js";
import { tempDir } from "../support/tmp.js";

const watchers: RelationWatcher[] = [];
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
});

const { log } = capturedLogger("silent");

/**
 * A watcher whose every debounced change records what the source holds at that moment, and
 * whose every first event of a change records the marks set so far.
 */
async function watching(path: string, debounceMs = 30, firstEvents: string[][] = []) {
  const seen: string[] = [];
  const marks: string[] = [];
  const watcher = new RelationWatcher({
    paths: [path],
    debounceMs,
    log,
    onFirstEvent: () => firstEvents.push([...marks]),
    onChange: () => {
      void readSource(path).then((r) =>
        seen.push(r.kind === "configured" ? r.config.address : r.kind),
      );
    },
  });
  watchers.push(watcher);
  await watcher.start();
  return Object.assign(seen, { mark: (m: string) => marks.push(m) });
}

/** Resolves once `count` events for `name` reached a watch of `dir` (a plain fs.watch). */
function delivered(dir: string, name: string, count: number): Promise<void> {
  return new Promise((resolve) => {
    let n = 0;
    const w = fsWatch(dir, (_event, file) => {
      if (file === name && ++n === count) {
        w.close();
        setImmediate(resolve);
      }
    });
  });
}

/** Whether `expected` occur in `seen` in this order (other reads may come between). */
function inOrder(seen: readonly string[], expected: readonly string[]): boolean {
  let at = 0;
  for (const value of seen) if (value === expected[at]) at++;
  return at === expected.length;
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
    expect(inOrder(seen, ["a:1", "missing", "b:2"])).toBe(true);
    expect(seen.at(-1)).toBe("b:2");
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
    // A sentinel write must be the next and only change after it.
    await writeFile(path, bag("sentinel:1"));
    await waitFor("the sentinel", () => seen.at(-1) === "sentinel:1");
    expect(seen.slice(seen.lastIndexOf("host6:1"))).toEqual(["host6:1", "sentinel:1"]);
  });

  it("follows a source whose directory does not exist yet", async () => {
    const dir = await tempDir();
    const path = join(dir, "relations", "parca-store", "relation.json");
    const seen = await watching(path);
    await mkdir(join(dir, "relations", "parca-store"), { recursive: true });
    // The new directories are noticed (and watched) with one more read of the source.
    await waitFor("the directory noticed", () => seen.includes("missing"));
    await writeFile(path, bag("late:1"));
    await waitFor("late:1", () => seen.at(-1) === "late:1");
    expect(inOrder(seen, ["missing", "late:1"])).toBe(true);
    expect(new Set(seen)).toEqual(new Set(["missing", "late:1"]));
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
    expect(inOrder(seen, ["v2:1", "v3:1", "file:1"])).toBe(true);
    // Never an older version once a newer one was seen.
    expect(seen.slice(seen.indexOf("v3:1"))).not.toContain("v2:1");
    expect(seen).not.toContain("v1:1");
  });

  it("ignores unrelated files next to the source", async () => {
    const dir = await tempDir();
    const path = join(dir, "relation.json");
    await writeFile(path, bag("a:1"));
    const firstEvents: string[][] = [];
    const seen = await watching(path, 10, firstEvents);
    const others = delivered(dir, "other.log", 5);
    for (let i = 0; i < 5; i++) await writeFile(join(dir, "other.log"), `line ${i}\n`);
    await others;
    // Every event of the neighbour has reached the watchers: a sentinel change to the source
    // must be the first and only change seen.
    seen.mark("sentinel written");
    await writeFile(path, bag("sentinel:1"));
    await waitFor("the sentinel", () => seen.length > 0);
    expect([...seen]).toEqual(["sentinel:1"]);
    expect(firstEvents).toEqual([["sentinel written"]]);
  });
});
