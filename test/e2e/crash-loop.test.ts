// Rollback that cannot be fooled: a config counts as having run --min-uptime-ms only when one
// agent process stayed up that long, so an agent that crashes and is restarted in between is
// never promoted to last-known-good.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { recordedStarts, standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

describe("crash-loop rollback", () => {
  it("an agent crashing 1.5 s after each start with --min-uptime-ms 3000 is rolled back, never promoted", async () => {
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    const state = join(dir, "state");
    const record = join(dir, "starts.jsonl");
    const [good, bad] = [await startStore(), await startStore()];
    await writeRelation(relation, plaintext(good.address));
    const sc = await startSidecar(
      [
        ...standinRun(relation, state),
        "--debounce-ms",
        "20",
        "--min-uptime-ms",
        "3000",
        "--metrics-listen",
        "127.0.0.1:0",
      ],
      {
        STANDIN_RECORD: record,
        STANDIN_CRASH_ADDRESS: bad.address,
        STANDIN_CRASH_AFTER_MS: "1500",
      },
    );
    await sc.waitStatus("RUNNING on good", (s) => s.phase === Phase.RUNNING);
    await waitFor("the good agent's start", () => recordedStarts(record).length === 1);
    await writeRelation(relation, plaintext(bad.address));
    const rolled = await sc.waitStatus(
      "rolled back",
      (s) => s.rejected?.code === "AGENT_CRASH_LOOP" && s.applied?.address === good.address,
      60_000,
    );
    expect(rolled.phase).toBe(Phase.DEGRADED);
    expect(rolled.rejected?.message).toContain("exited 3 times within 3000 ms");
    // The agent ran the bad config three times, each for about 1.5 s, then the good one again.
    await waitFor("the good agent again", () => recordedStarts(record).length === 5);
    const addresses = recordedStarts(record).map(
      (s) => s.argv.find((a) => a.startsWith("--remote-store-address="))?.split("=")[1],
    );
    expect(addresses).toEqual([good.address, bad.address, bad.address, bad.address, good.address]);
    const known = JSON.parse(readFileSync(join(state, "last-known-good.json"), "utf8"));
    expect(known.current.address).toBe(good.address);
    expect(sc.logs().some((l) => l.event === "rollback")).toBe(true);
    // What an operator alerts on: one rollback for a crash loop, crash restarts apart from the
    // planned ones.
    const metrics = await (await fetch(`http://${sc.metricsAddress}/metrics`)).text();
    expect(metrics).toContain('parca_agent_sidecar_rollbacks_total{reason="AGENT_CRASH_LOOP"} 1');
    expect(metrics).toContain('parca_agent_sidecar_agent_restarts_total{reason="config"} 1');
    expect(metrics).toContain('parca_agent_sidecar_agent_restarts_total{reason="rollback"} 1');
    expect(metrics).toMatch(/parca_agent_sidecar_agent_restarts_total\{reason="crash"\} [23]\n/);
  });
});
