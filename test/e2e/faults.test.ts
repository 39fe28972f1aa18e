import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { Phase } from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";
import { makePki } from "../support/certs.js";
import { afterTest, cleanUpAfterEach, startSidecar, startStore } from "../support/e2e.js";
import { KeyDirectory } from "../support/keydir.js";
import { itWhere } from "../support/must-run.js";
import {
  recordedStarts,
  STANDIN,
  standinProcesses,
  standinRun,
  waitFor,
} from "../support/procs.js";
import { plaintext, writeRelation } from "../support/relation.js";
import { Sidecar } from "../support/sidecar.js";
import { TestStore } from "../support/store.js";
import { tempDir } from "../support/tmp.js";

cleanUpAfterEach();
const store = startStore;

function sidecar(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Sidecar> {
  return startSidecar([...args, "--agent", STANDIN, "--debounce-ms", "20"], env);
}

/** Whether this machine lets us mount a tmpfs (root with CAP_SYS_ADMIN): a real full disk. */
function canMount(): boolean {
  const dir = join("/tmp", `pas-mount-probe-${process.pid}`);
  try {
    execFileSync("mkdir", ["-p", dir]);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "ignore" });
    execFileSync("umount", [dir]);
    return true;
  } catch {
    return false;
  } finally {
    execFileSync("rmdir", [dir]);
  }
}

const itMounting = itWhere(
  process.platform === "linux" && canMount(),
  "mount -t tmpfs is refused here (it needs root with CAP_SYS_ADMIN)",
);

/**
 * Runs the sidecar in a user namespace of its own where no inotify watch may be added: ENOSPC as
 * on a node whose watches are used up, without touching the machine's limit (the limit under
 * /proc/sys/user is per user namespace).
 */
const NO_INOTIFY_WATCHES = [
  "unshare",
  "--user",
  "--map-root-user",
  "sh",
  "-c",
  'echo 0 > /proc/sys/user/max_inotify_watches && exec "$@"',
  "sh",
];

function canCapInotify(): boolean {
  try {
    execFileSync(NO_INOTIFY_WATCHES[0] as string, [...NO_INOTIFY_WATCHES.slice(1), "true"], {
      stdio: "ignore",
    });
    return true;
  } catch {
    return false;
  }
}

const itCappingInotify = itWhere(
  process.platform === "linux" && canCapInotify(),
  "unshare --user --map-root-user is refused here (user namespaces are off)",
);

describe("fault injection", () => {
  it("store killed mid-run: the agent keeps running, the periodic re-check reports it", async () => {
    const dir = await tempDir();
    const s1 = await TestStore.start();
    const relation = join(dir, "relation.json");
    await writeRelation(relation, plaintext(s1.address));
    const sc = await sidecar([
      "--relation",
      relation,
      "--state-dir",
      join(dir, "state"),
      "--recheck-ms",
      "200",
    ]);
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await s1.stop();
    const down = await sc.waitStatus(
      "re-check fails",
      (s) => s.appliedCheck?.diagnosis?.code === "CONNECTION_REFUSED",
    );
    expect(down.agent?.pid).toBe(running.agent?.pid);
    expect(down.phase).toBe(Phase.RUNNING);
    const back = await store({ port: s1.port });
    await sc.waitStatus("re-check passes", (s) => s.appliedCheck?.ok === true);
    expect((await sc.status()).agent?.pid).toBe(running.agent?.pid);
    expect(back.port).toBe(s1.port);
  });

  it("store restarting with a certificate from another CA: re-check says TLS_UNKNOWN_CA, a new config is held", async () => {
    const dir = await tempDir();
    const pki = makePki();
    writeFileSync(join(dir, "ca.pem"), pki.ca.certPem);
    const s1 = await TestStore.start({ tls: { leaf: pki.leaf }, token: ["t1", "t2"] });
    const relation = join(dir, "relation.json");
    const bag = {
      "remote-store-address": `localhost:${s1.port}`,
      "remote-store-insecure": "false",
    };
    await writeRelation(relation, { ...bag, "remote-store-bearer-token": "t1" });
    const sc = await sidecar(
      [
        "--relation",
        relation,
        "--state-dir",
        join(dir, "state"),
        "--ca-file",
        join(dir, "ca.pem"),
        "--recheck-ms",
        "200",
      ],
      { SSL_CERT_FILE: "/nonexistent", SSL_CERT_DIR: "/nonexistent" },
    );
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    await s1.stop();
    await store({ tls: { leaf: pki.untrusted }, token: ["t1", "t2"], port: s1.port });
    await sc.waitStatus(
      "re-check fails",
      (s) => s.appliedCheck?.diagnosis?.code === "TLS_UNKNOWN_CA",
    );
    await writeRelation(relation, { ...bag, "remote-store-bearer-token": "t2" });
    const held = await sc.waitStatus(
      "held",
      (s) => s.lastCheck?.diagnosis?.code === "TLS_UNKNOWN_CA",
    );
    expect(held.phase).toBe(Phase.DEGRADED);
    expect(held.agent?.pid).toBe(running.agent?.pid);
  });

  it("relation file truncated mid-write: reported, agent untouched, then the whole write is applied", async () => {
    const dir = await tempDir();
    const [a, b] = [await store(), await store()];
    const relation = join(dir, "relation.json");
    const record = join(dir, "starts.jsonl");
    await writeRelation(relation, plaintext(a.address));
    const sc = await sidecar(["--relation", relation, "--state-dir", join(dir, "state")], {
      STANDIN_RECORD: record,
    });
    const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
    // The stand-in records from its re-executed child: an agent stopped before that never would.
    await waitFor("a's start recorded", () => recordedStarts(record).length === 1);
    const whole = JSON.stringify(plaintext(b.address));
    writeFileSync(relation, whole.slice(0, whole.length - 9)); // a writer died mid-way
    const bad = await sc.waitStatus("MALFORMED", (s) => s.sources[0]?.error?.code === "MALFORMED");
    expect(bad.agent?.pid).toBe(running.agent?.pid);
    writeFileSync(relation, whole);
    await sc.waitStatus(
      "applied b",
      (s) => s.applied?.address === b.address && s.phase === Phase.RUNNING,
    );
    await waitFor("b's start recorded", () =>
      recordedStarts(record).some((r) => r.argv.includes(`--remote-store-address=${b.address}`)),
    );
    const addresses = recordedStarts(record).map((r) =>
      r.argv.find((arg) => arg.startsWith("--remote-store-address=")),
    );
    expect(addresses).toEqual([
      `--remote-store-address=${a.address}`,
      `--remote-store-address=${b.address}`,
    ]);
  });

  it("relation directory deleted and re-created: picked up again", async () => {
    const dir = await tempDir();
    const [a, b] = [await store(), await store()];
    const secret = join(dir, "secret");
    const volume = new KeyDirectory(secret);
    await volume.write({ "remote-store-address": a.address, "remote-store-insecure": "true" });
    const sc = await sidecar([
      "--relation",
      secret,
      "--state-dir",
      join(dir, "state"),
      "--remove-grace-ms",
      "5000",
      "--rescan-ms",
      "0",
    ]);
    const onA = await sc.waitStatus("RUNNING on a", (s) => s.applied?.address === a.address);
    await rm(secret, { recursive: true });
    const gone = await sc.waitStatus("gone", (s) => s.desired === undefined);
    // Within --remove-grace-ms the agent is left alone.
    expect(gone.applied?.address).toBe(a.address);
    expect(gone.agent?.pid).toBe(onA.agent?.pid);
    await mkdir(secret);
    await new KeyDirectory(secret).write(plaintext(b.address));
    // With the rescan off, only the watch can have seen the new directory.
    const onB = await sc.waitStatus(
      "RUNNING on b",
      (s) => s.applied?.address === b.address && s.phase === Phase.RUNNING,
    );
    expect(onB.desired?.address).toBe(b.address);
    expect(onB.agent?.pid).not.toBe(onA.agent?.pid);
    expect(onB.sources[0]?.warnings.map((w) => w.code)).not.toContain("WATCH_FAILED");
  });

  itCappingInotify(
    "no inotify watch to be had (ENOSPC): WATCH_FAILED is reported and the periodic rescan still applies changes",
    async () => {
      const dir = await tempDir();
      const [a, b] = [await store(), await store()];
      const relation = join(dir, "relation.json");
      await writeRelation(relation, plaintext(a.address));
      const sc = await startSidecar(
        [...standinRun(relation, join(dir, "state")), "--debounce-ms", "20", "--rescan-ms", "300"],
        {},
        { wrap: NO_INOTIFY_WATCHES },
      );
      const running = await sc.waitStatus(
        "a applied, the watch failure reported",
        (s) =>
          s.applied?.address === a.address &&
          s.sources[0]?.warnings.some((w) => w.code === "WATCH_FAILED") === true,
      );
      const warning = running.sources[0]?.warnings.find((w) => w.code === "WATCH_FAILED");
      expect(warning?.message).toContain("ENOSPC");
      expect(warning?.hint).toContain("max_user_watches");
      expect(sc.logs().some((l) => l.event === "watch_failed" && l.code === "ENOSPC")).toBe(true);
      await writeRelation(relation, plaintext(b.address));
      await sc.waitStatus(
        "b applied through the rescan",
        (s) => s.applied?.address === b.address && s.phase === Phase.RUNNING,
      );
    },
  );

  itMounting(
    "full disk under the state dir: the agent keeps running and the error is reported",
    async () => {
      const dir = await tempDir();
      const [a, b] = [
        await store({ token: ["token-a", "token-b"] }),
        await store({ token: ["token-a", "token-b"] }),
      ];
      const stateDir = join(dir, "state");
      await mkdir(stateDir);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", stateDir]);
      afterTest(async () => execFileSync("umount", ["-l", stateDir]));
      const relation = join(dir, "relation.json");
      const record = join(dir, "starts.jsonl");
      await writeRelation(relation, {
        "remote-store-address": a.address,
        "remote-store-insecure": "true",
        "remote-store-bearer-token": "token-a",
      });
      const sc = await sidecar(
        ["--relation", relation, "--state-dir", stateDir, "--token-mode", "file"],
        { STANDIN_RECORD: record },
      );
      const running = await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
      await waitFor("the agent's start", () => recordedStarts(record).length === 1);
      // Fill the file system to the last byte.
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${join(stateDir, "filler")}`, "bs=4k"], {
          stdio: "ignore",
        });
      } catch {
        // dd stops with ENOSPC: the disk is full
      }
      await writeRelation(relation, {
        "remote-store-address": b.address,
        "remote-store-insecure": "true",
        "remote-store-bearer-token": "token-b",
      });
      const stuck = await sc.waitStatus("apply refused", (s) =>
        s.message.startsWith("cannot apply"),
      );
      expect(stuck.message).toContain("ENOSPC");
      expect(stuck.phase).toBe(Phase.DEGRADED);
      expect(stuck.agent?.pid).toBe(running.agent?.pid);
      expect(stuck.applied?.address).toBe(a.address);
      expect(recordedStarts(record)).toHaveLength(1);
      expect(readFileSync(join(stateDir, "bearer-token"), "utf8")).toBe("token-a");
      expect(sc.logs().some((l) => l.event === "apply_failed")).toBe(true);
      // Space comes back: the retry applies it.
      await rm(join(stateDir, "filler"));
      await sc.waitStatus(
        "applied b",
        (s) => s.applied?.address === b.address && s.phase === Phase.RUNNING,
        60_000,
      );
    },
  );

  itMounting(
    "read-only state dir: the new config runs, and status says it cannot be persisted",
    async () => {
      const dir = await tempDir();
      const [a, b] = [await store(), await store()];
      const stateDir = join(dir, "state");
      await mkdir(stateDir);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", stateDir]);
      afterTest(async () => execFileSync("umount", ["-l", stateDir]));
      const relation = join(dir, "relation.json");
      await writeRelation(relation, plaintext(a.address));
      const sc = await sidecar(["--relation", relation, "--state-dir", stateDir]);
      await sc.waitStatus("RUNNING", (s) => s.phase === Phase.RUNNING);
      execFileSync("mount", ["-o", "remount,ro", stateDir]);
      await writeRelation(relation, plaintext(b.address));
      const st = await sc.waitStatus(
        "b runs",
        (s) => s.applied?.address === b.address && s.phase === Phase.RUNNING,
      );
      expect(st.message).toContain("cannot persist the last-known-good config (EROFS)");
      expect(sc.logs().some((l) => l.event === "state_write_failed")).toBe(true);
      expect(await sc.health("readiness")).toBe(1);
      // SIGTERM on a read-only state dir: the agent stopped, exit 0, no stack trace.
      expect(await sc.stop()).toBe(0);
      expect(sc.text()).not.toContain("    at ");
    },
  );

  it("a sidecar SIGKILLed at random moments around restarts, 20 times: one agent runs the last config", async () => {
    const dir = await tempDir();
    const stores = [await store(), await store(), await store()];
    const relation = join(dir, "relation.json");
    const stateDir = join(dir, "state");
    let last = "";
    for (let i = 0; i < 20; i++) {
      last = (stores[i % 3] as TestStore).address;
      const sc = await Sidecar.start(
        [...standinRun(relation, stateDir), "--debounce-ms", "10"],
        {},
        { watchStatus: false },
      );
      await writeRelation(relation, plaintext(last));
      await sleep(Math.floor(Math.random() * 400));
      await sc.kill();
    }
    const final = await sidecar(["--relation", relation, "--state-dir", stateDir]);
    await final.waitStatus(
      "RUNNING the last config",
      (s) => s.phase === Phase.RUNNING && s.applied?.address === last,
    );
    const alive = await waitFor("exactly one agent, with its re-executed child", () => {
      const procs = standinProcesses();
      return procs.length === 2 ? procs : undefined;
    });
    for (const p of alive) expect(p.argv).toContain(`--remote-store-address=${last}`);
  });
});
