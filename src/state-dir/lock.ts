import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";

const HOLDER_FILE = "sidecar.pid";

/** The state dir is held by another sidecar. */
export class StateDirLocked extends Error {
  override readonly name = "StateDirLocked";
}

/**
 * Takes the state dir for this process's life: an abstract unix socket named after the dir's
 * realpath, which the kernel releases when the process dies however it dies, so a SIGKILLed
 * sidecar never blocks its successor. Two sidecars that share a state dir but not a network
 * namespace do not see each other's lock. The holder's pid is written next to the state for the
 * message a second sidecar prints.
 */
export async function lockStateDir(realDir: string): Promise<{ release(): Promise<void> }> {
  const name = `\0parca-agent-sidecar/${createHash("sha256").update(realDir).digest("hex")}`;
  const server: Server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(name, () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    const holder = (await readFile(join(realDir, HOLDER_FILE), "utf8").catch(() => "")).trim();
    throw new StateDirLocked(
      `state dir ${realDir} is in use by another sidecar${holder ? ` (pid ${holder})` : ""}; give this one its own --state-dir, or stop that one`,
    );
  }
  // The lock must not keep the process alive on its own.
  server.unref();
  await writeFileAtomic(join(realDir, HOLDER_FILE), `${process.pid}\n`, { durable: false }).catch(
    () => undefined,
  );
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
