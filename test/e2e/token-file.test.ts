// Secrets on disk only while needed: the token file goes when the agent it served is stopped for
// good (the relation removed with --on-remove stop, or the sidecar's shutdown).
import { existsSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { standinRun, waitFor } from "../support/procs.js";
import { writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();

async function withToken() {
  const dir = await tempDir();
  const relation = join(dir, "relation.json");
  const state = join(dir, "state");
  const store = await startStore({ token: "token-for-the-file" });
  await writeRelation(relation, {
    "remote-store-address": store.address,
    "remote-store-insecure": "true",
    "remote-store-bearer-token": "token-for-the-file",
  });
  const sc = await startSidecar([
    ...standinRun(relation, state),
    ...["--token-mode", "file", "--remove-grace-ms", "200", "--debounce-ms", "20"],
  ]);
  await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
  const tokenFile = join(state, "bearer-token");
  expect(readFileSync(tokenFile, "utf8")).toBe("token-for-the-file");
  return { sc, relation, tokenFile };
}

describe("the token file", () => {
  it("is removed when the relation is removed and the agent stopped (--on-remove stop)", async () => {
    const { sc, relation, tokenFile } = await withToken();
    await rm(relation);
    const stopped = await sc.waitStatus(
      "agent stopped",
      (s) => s.phase === Phase.WAITING_FOR_RELATION,
    );
    expect(stopped.applied).toBeUndefined();
    await waitFor("the token file gone", () => !existsSync(tokenFile));
    expect(existsSync(tokenFile)).toBe(false);
    expect(sc.logs().some((l) => l.event === "token_file_not_removed")).toBe(false);
  });

  it("is removed when SIGTERM stops the agent", async () => {
    const { sc, tokenFile } = await withToken();
    expect(await sc.stop()).toBe(0);
    expect(existsSync(tokenFile)).toBe(false);
  });
});
