// At steady state, with the agent's own writes proving the store reachable, the sidecar makes no
// calls to the store: measured with a stand-in agent that really writes, and the store re-check
// and rescan set to once a second, so that any call would show.
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DeliveryState } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { freePort } from "../../test/support/ingress.js";
import { STANDIN } from "../../test/support/procs.js";
import { plaintext, writeRelation } from "../../test/support/relation.js";
import { Sidecar } from "../../test/support/sidecar.js";
import { TestStore } from "../../test/support/store.js";

/**
 * Every call the store received that is not one of the agent's writes (a WriteArrow with data,
 * which the store counts as it accepts it): whatever sends them, whatever they carry.
 */
const otherCalls = (store: TestStore) => store.calls.length - store.writes;

export async function measureSteadyState(dir: string, windowS: number) {
  const store = await TestStore.start();
  const relation = join(dir, "steady.json");
  await writeRelation(relation, plaintext(store.address));
  const port = await freePort();
  const sidecar = await Sidecar.start(
    [
      ...["--relation", relation, "--agent", STANDIN, "--state-dir", join(dir, "steady-state")],
      ...["--recheck-ms", "1000", "--rescan-ms", "1000", "--", `--http-address=127.0.0.1:${port}`],
    ],
    { STANDIN_RECORD: join(dir, "steady.record") },
    { watchStatus: false },
  );
  try {
    await sidecar.waitStatus(
      "delivering",
      (s) => s.delivery?.state === DeliveryState.DELIVERING,
      60_000,
    );
    const before = otherCalls(store);
    await sleep(windowS * 1000);
    const calls = otherCalls(store) - before;
    return {
      window_s: windowS,
      recheck_ms: 1000,
      store_calls: calls,
      per_node_per_hour: Math.round((calls * 3600) / windowS),
    };
  } finally {
    await sidecar.stop();
    await store.stop();
  }
}
