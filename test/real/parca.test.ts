// The real Parca server (v0.28.0, built from its Go module by `npm run peers`): the check's
// probes against it, directly and through a real nginx that demands a token, and the sidecar
// moving its agent from one real store to another. (The real parca-agent is not here: the Go
// module proxy refuses every version of it.)
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { makePki } from "../support/certs.js";
import { spawnCli } from "../support/cli.js";
import { afterTest, cleanUpAfterEach, startParca, startSidecar } from "../support/e2e.js";
import { startNginx } from "../support/ingress.js";
import { standinRun, waitFor } from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();
const pki = makePki();

const parca = startParca;

async function relationFile(bag: Record<string, string>): Promise<string> {
  const path = join(await tempDir(), "relation.json");
  await writeFile(path, JSON.stringify(bag));
  return path;
}

describe("the real Parca server", () => {
  it("passes the check: health and the agent's own write RPC reach it (WriteArrow, or the Write stream for v0.41)", async () => {
    const server = await parca();
    const [write, arrow] = [await server.handled("Write"), await server.handled("WriteArrow")];
    const path = await relationFile(plaintext(server.address));
    const r = await spawnCli(["check", "--relation", path]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.ok).toBe(true);
    expect(result.stages.map((s: { name: string }) => s.name)).toEqual([
      "dns",
      "tcp",
      "health",
      "arrow",
    ]);
    // The probes were answered by the server itself, not by something in between.
    await waitFor("the server's WriteArrow counter", async () => {
      return (await server.handled("WriteArrow")) > arrow;
    });
    const old = await spawnCli(["check", "--relation", path, "--agent-version", "v0.41.0"]);
    expect(old.code).toBe(0);
    const oldResult = JSON.parse(old.stdout);
    expect(oldResult.stages.map((s: { name: string }) => s.name).at(-1)).toBe("write");
    expect(oldResult.writeRpc).toBe("Write");
    // Parca refused the empty stream (INVALID_ARGUMENT), which passes, and stored nothing.
    await waitFor("the server's Write counter", async () => {
      return (await server.handled("Write")) > write;
    });
  });

  it("through nginx (TLS 1.3, h2, grpc_pass) that demands a token: the right one passes, a wrong one is UNAUTHENTICATED", async () => {
    const server = await parca();
    const dir = await tempDir("pas-nginx-");
    const ingress = await startNginx({
      dir,
      leaf: pki.leaf,
      sslProtocols: "TLSv1.3",
      root: `if ($http_authorization != "Bearer the-right-token") { return 401; } grpc_pass grpc://${server.address};`,
    });
    afterTest(() => ingress.stop());
    const caFile = join(dir, "ca.pem");
    await writeFile(caFile, pki.ca.certPem);
    const bag = (token: string) => ({
      "remote-store-address": ingress.address,
      "remote-store-insecure": "false",
      "remote-store-bearer-token": token,
    });
    const env = { SSL_CERT_FILE: join(dir, "none.pem"), SSL_CERT_DIR: join(dir, "none") };
    const right = await spawnCli(
      ["check", "--ca-file", caFile, "--relation", await relationFile(bag("the-right-token"))],
      env,
    );
    expect(JSON.parse(right.stdout)).toMatchObject({ ok: true });
    const wrong = await spawnCli(
      ["check", "--ca-file", caFile, "--relation", await relationFile(bag("a-wrong-token-0"))],
      env,
    );
    expect(wrong.code).toBe(1);
    const result = JSON.parse(wrong.stdout);
    expect(result.diagnosis.code).toBe("UNAUTHENTICATED");
    expect(result.diagnosis.hint).toContain("remote-store-bearer-token");
    expect(`${wrong.stdout}${right.stdout}`).not.toMatch(/the-right-token|a-wrong-token-0/);
  });

  it("the sidecar moves its agent from one real Parca server to another, each checked first", async () => {
    const [a, b] = [await parca(), await parca()];
    const dir = await tempDir();
    const relation = join(dir, "relation.json");
    await writeRelation(relation, plaintext(a.address));
    const sc = await startSidecar([
      ...standinRun(relation, join(dir, "state")),
      "--debounce-ms",
      "20",
    ]);
    const onA = await sc.waitStatus("RUNNING on a", (s) => s.phase === Phase.RUNNING, 60_000);
    expect(onA.lastCheck).toMatchObject({ ok: true, address: a.address });
    await writeRelation(relation, plaintext(b.address));
    const onB = await sc.waitStatus(
      "RUNNING on b",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === b.address,
      60_000,
    );
    expect(onB.lastCheck).toMatchObject({ ok: true, address: b.address });
    expect(onB.agentArgs).toContain(`--remote-store-address=${b.address}`);
    // Stopped: a store that went away is held, the agent left on b.
    await b.stop();
    await writeRelation(relation, {
      ...plaintext(b.address),
      "remote-store-bearer-token": "some-token-1",
    });
    const held = await sc.waitStatus("held", (s) => s.lastCheck?.ok === false, 60_000);
    expect(held.lastCheck?.diagnosis?.code).toBe("CONNECTION_REFUSED");
    expect(held.applied?.address).toBe(b.address);
  });
});
