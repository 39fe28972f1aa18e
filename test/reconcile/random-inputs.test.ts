import { readFileSync, realpathSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toJsonString } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { Supervisor } from "../../src/agent/supervisor.js";
import { buildStatus } from "../../src/api/status-message.js";
import { StatusSchema } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { view } from "../../src/loop/view.js";
import { type Checker, storeChecker } from "../../src/reconcile/checker.js";
import { Reconciler } from "../../src/reconcile/reconciler.js";
import { RelationReader } from "../../src/relation/reader.js";
import type { StoreConfig } from "../../src/relation/types.js";
import { KnownGoodFile } from "../../src/state-dir/known-good-file.js";
import { refusedPort } from "../support/endpoints.js";
import { capturedLogger } from "../support/logs.js";
import { killStrayStandins, standinProcesses } from "../support/procs.js";
import { ROOT } from "../support/root.js";
import { TestStore } from "../support/store.js";
import { tempDir } from "../support/tmp.js";

const AGENT = join(ROOT, "test", "support", "agents", "record.sh");
const MARK = "qX7SECRET";
const RUNS = 10_000;

afterEach(async () => {
  const left = standinProcesses();
  await killStrayStandins();
  expect(left).toEqual([]);
});

const key = (c: StoreConfig) => JSON.stringify([c.address, c.insecure, c.token ?? null]);

describe("10,000 random relation inputs through the loop", () => {
  it("never crash it, never leak a token, never start an agent with a config that did not pass its check", async () => {
    const dir = realpathSync(await tempDir());
    const open = await TestStore.start();
    const guarded = await TestStore.start({ token: "right-token-B" });
    const refused = `127.0.0.1:${await refusedPort()}`;
    const relation = join(dir, "relation.json");
    const record = join(dir, "agents.log");
    const { log, lines: logs, secrets } = capturedLogger();
    const runner = new Supervisor({
      agentPath: AGENT,
      stateDir: dir,
      stopTimeoutMs: 5000,
      env: { PATH: process.env.PATH, STANDIN_RECORD: record },
      log,
      secrets,
    });
    /** Every check as it ended: the config, its verdict, and when (wall clock, ms). */
    const checks: { key: string; ok: boolean; atMs: number }[] = [];
    const real = storeChecker({ baseArgs: ["--node=fc"], env: {}, timeoutMs: 2000, secrets });
    const checker: Checker = {
      async check(config) {
        const result = await real.check(config);
        checks.push({ key: key(config), ok: result.ok, atMs: Date.now() });
        return result;
      },
    };
    const reconciler = new Reconciler({
      sources: new RelationReader([relation]),
      baseArgs: ["--node=fc"],
      render: { tokenMode: "flag", stateDir: dir },
      unverified: "hold",
      onRemove: "stop",
      removeGraceMs: 30,
      minUptimeMs: 60_000,
      retry: { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 },
      runner,
      checker,
      knownGood: new KnownGoodFile(dir),
      log,
      secrets,
    });
    await reconciler.start();

    const token = fc.oneof(
      fc.constant("right-token-B"),
      fc.string({ minLength: 1, maxLength: 40 }).map((s) => `${MARK}${s}`),
      fc.string({ unit: "binary", maxLength: 20 }).map((s) => `${MARK}${s}`),
    );
    const address = fc.oneof(
      fc.constantFrom(open.address, guarded.address, refused, "parca-store.invalid:7070"),
      fc.constantFrom(
        "https://parca-store.invalid",
        `http://${open.address}`,
        `https://${open.address}/path`,
        `${open.address}/path`,
        "::1:7070",
        " ",
        "",
      ),
      fc.string({ maxLength: 30 }),
    );
    const insecure = fc.constantFrom("true", "TRUE", "false", "", "yes", "1");
    const databag = fc.record(
      {
        "remote-store-address": address,
        "remote-store-insecure": insecure,
        "remote-store-bearer-token": token,
        "egress-subnets": fc.string({ maxLength: 10 }),
      },
      { requiredKeys: [] },
    );
    const content = fc.oneof(
      { weight: 6, arbitrary: databag.map((bag) => JSON.stringify(bag)) },
      {
        weight: 2,
        arbitrary: databag.map((bag) =>
          Object.entries(bag)
            .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
            .join("\n"),
        ),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "",
          "{}",
          "[1,2]",
          "a: [b",
          `{"remote-store-address": {"x": 1}}`,
        ),
      },
    );

    let steps = 0;
    await fc.assert(
      fc.asyncProperty(content, async (data) => {
        writeFileSync(`${relation}.tmp`, data);
        renameSync(`${relation}.tmp`, relation);
        await reconciler.trigger();
        steps++;
        const agent = runner.snapshot();
        const status = buildStatus(
          reconciler.state,
          agent,
          view(reconciler.state, agent, false),
          [],
        );
        expect(toJsonString(StatusSchema, status)).not.toContain(MARK);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    await reconciler.shutdown({ stopAgent: true });
    await open.stop();
    await guarded.stop();

    expect(steps).toBe(RUNS);
    const all = logs.join("");
    expect(all).not.toContain(MARK);
    expect(logs.map((l) => JSON.parse(l).event)).not.toContain("reconcile_failed");
    const starts = readFileSync(record, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        // record.sh: "<wall-clock ns> <argv>"
        const atMs = Number(line.slice(0, line.indexOf(" "))) / 1e6;
        const argv = line.slice(line.indexOf(" ") + 1).split(" ");
        const flag = (name: string) =>
          argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
        const t = flag("remote-store-bearer-token");
        const config = {
          address: flag("remote-store-address") ?? "",
          insecure: flag("remote-store-insecure") === "true",
          ...(t ? { token: t } : {}),
        };
        return { config, atMs };
      });
    // Many configs passed and ran; every one that ran had passed the last check of it that
    // ended before it started (a config that passed once and failed since is never started).
    expect(starts.length).toBeGreaterThan(50);
    for (const start of starts) {
      const last = checks.filter((c) => c.key === key(start.config) && c.atMs <= start.atMs).at(-1);
      expect(last?.ok, JSON.stringify(start.config)).toBe(true);
    }
  }, 600_000);
});
