// A burst of writes as the loop meets it in `run`: a real relation file, rewritten 1,000 times in
// about a second, watched by the real RelationWatcher (chokidar), read by the real reader, and
// reconciled by the real loop — only the agent and the store are fakes. One restart, with the
// last data.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { Reconciler } from "../../src/reconcile/reconciler.js";
import { RelationReader } from "../../src/relation/reader.js";
import { RelationWatcher } from "../../src/relation/watch.js";
import { capturedLogger } from "../support/logs.js";
import { FakeChecker, FakeRunner, loopOptions, MemoryKnownGood } from "../support/loop-fakes.js";
import { waitFor } from "../support/procs.js";
import { plaintext } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Replaces the file whole, as relation-get > tmp && mv does. */
function replace(path: string, bag: Record<string, string>): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(bag));
  renameSync(`${path}.tmp`, path);
}

describe("a burst of writes through the real watcher", () => {
  it("1,000 rewrites in about a second: one restart, with the last data", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    replace(relation, plaintext("first.example:7070"));
    const { log, secrets } = capturedLogger("silent");
    const runner = new FakeRunner();
    let firstEvents = 0;
    let changes = 0;
    const checker = new FakeChecker();
    const reconciler = new Reconciler(
      loopOptions({
        sources: new RelationReader([relation]),
        runner,
        checker,
        knownGood: new MemoryKnownGood(),
        log,
        secrets,
      }),
    );
    const watcher = new RelationWatcher({
      paths: [relation],
      debounceMs: 200,
      log,
      onFirstEvent: () => {
        firstEvents++;
        void reconciler.prefetch();
      },
      onChange: (firstEventAt) => {
        changes++;
        void reconciler.trigger(firstEventAt);
      },
    });
    closers.push(() => watcher.close());
    await watcher.start();
    await reconciler.start();
    await waitFor("the first config running", () => runner.addresses().length === 1);

    const started = Date.now();
    for (let i = 1; i <= 1000; i++) {
      replace(relation, plaintext(`burst-${i}.example:7070`));
      if (i % 10 === 0) await sleep(10);
    }
    const burstMs = Date.now() - started;
    await waitFor("the last write applied", () => runner.addresses().length >= 2);
    // A sentinel: one more write after the quiet period is applied too, and nothing in between.
    replace(relation, plaintext("after.example:7070"));
    await waitFor("the sentinel applied", () => runner.addresses().at(-1) === "after.example:7070");
    expect(runner.addresses()).toEqual([
      "first.example:7070",
      "burst-1000.example:7070",
      "after.example:7070",
    ]);
    // The watcher saw the burst as it came — its first event began an early check while the
    // writes went on — and reported it once the files went quiet: one change for the burst, one
    // for the sentinel; a burst that lasted, and few checks.
    expect(burstMs).toBeGreaterThanOrEqual(500);
    expect({ firstEvents, changes }).toEqual({ firstEvents: 2, changes: 2 });
    expect(checker.calls.length).toBeLessThanOrEqual(6);
    await reconciler.shutdown({ stopAgent: true });
  });
});
