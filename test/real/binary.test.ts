// The single-file binary (`npm run package`) as the sidecar of the real parca-agent v0.49.0 and
// real Parca servers: the scenario test/real/agent.test.ts runs with `node dist/cli.js`, supervise
// mode from store A to store B, with nothing left after SIGTERM.
import { join } from "node:path";
import { expect, it, vi } from "vitest";
import { DeliveryState, Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { cleanUpAfterEach, startParca } from "../support/e2e.js";
import { agentArgs, realAgentBinary, realAgentProcesses } from "../support/real-agent.js";
import {
  expectStatus,
  noRealAgentAfterEach,
  profilesOf,
  realSidecar,
} from "../support/real-run.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { releaseBinary, runnableTarget } from "../support/release.js";
import { tempDir } from "../support/tmp.js";

noRealAgentAfterEach();
cleanUpAfterEach();
const AGENT = realAgentBinary("v0.49.0");
const BIN = releaseBinary(runnableTarget());
// Every sidecar this file starts is the binary (test/support/cli.ts's sidecarCommand).
vi.stubEnv("PARCA_SIDECAR_BIN", BIN);

it("the binary supervises parca-agent v0.49.0: its version learned, profiles in store A, then in store B; SIGTERM leaves nothing", async () => {
  const [a, b] = [await startParca(), await startParca()];
  const relation = join(await tempDir(), "relation.json");
  await writeRelation(relation, plaintext(a.address));
  const { args } = await agentArgs("node-bin");
  const sc = await realSidecar(AGENT, relation, [], args);
  expect(sc.child.spawnargs[0]).toBe(BIN);

  const onA = await expectStatus(
    sc,
    "RUNNING on a",
    (s) => s.phase === Phase.RUNNING && s.applied?.address === a.address,
  );
  expect(onA.lastCheck).toMatchObject({ ok: true, writeRpc: "WriteArrow" });
  expect(onA.lastCheck?.writeRpcReason).toContain("agent 0.49.0");
  await profilesOf(a, "real-node-bin", sc);
  await expectStatus(sc, "DELIVERING on a", (s) => s.delivery?.state === DeliveryState.DELIVERING);

  await writeRelation(relation, plaintext(b.address));
  await expectStatus(
    sc,
    "RUNNING on b",
    (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address,
  );
  await profilesOf(b, "real-node-bin", sc);
  await expectStatus(
    sc,
    "DELIVERING on b",
    (s) => s.applied?.address === b.address && s.delivery?.state === DeliveryState.DELIVERING,
  );

  expect(await sc.stop()).toBe(0);
  expect(realAgentProcesses()).toEqual([]);
}, 240_000);
