import { constants } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Databag } from "./config.js";
import { toStoreConfig } from "./config.js";
import { parseDatabag } from "./content.js";
import { RelationError } from "./errors.js";
import { MAX_SOURCE_BYTES, RELATION_KEYS, type StoreConfig } from "./types.js";

/** What one relation source holds right now. */
export type SourceRead =
  | { readonly kind: "missing"; readonly path: string }
  | { readonly kind: "unconfigured"; readonly path: string }
  | { readonly kind: "configured"; readonly path: string; readonly config: StoreConfig }
  | { readonly kind: "error"; readonly path: string; readonly error: RelationError };

/**
 * Reads one `--relation` source: a JSON or YAML file, or a directory of key files (a mounted
 * Secret or ConfigMap, read through its `..data` symlinks). Never throws.
 */
export async function readSource(path: string): Promise<SourceRead> {
  try {
    const bag = await readDatabag(path);
    if (bag === "missing") return { kind: "missing", path };
    const config = bag === undefined ? undefined : toStoreConfig(bag);
    if (config === undefined) {
      return { kind: "unconfigured", path };
    }
    return { kind: "configured", path, config };
  } catch (err) {
    const error =
      err instanceof RelationError
        ? err.withPath(path)
        : unreadable(path, err instanceof Error ? err.message : String(err), err);
    return { kind: "error", path, error };
  }
}

async function readDatabag(path: string): Promise<Databag | undefined | "missing"> {
  const info = await statOrMissing(path);
  if (info === undefined) return "missing";
  if (info.isDirectory()) return readKeyDirectory(path);
  return parseDatabag(await readCapped(path));
}

async function readKeyDirectory(dir: string): Promise<Databag | undefined> {
  await readdir(dir).catch((err: unknown) => {
    throw unreadable(dir, describe(err), err);
  });
  const bag = new Map<string, string>();
  for (const key of RELATION_KEYS) {
    const file = join(dir, key);
    if ((await statOrMissing(file)) === undefined) continue;
    // Key files hold the value alone; validation names a bad value more precisely than a
    // decoding error would.
    bag.set(key, Buffer.from(await readCapped(file)).toString("utf8"));
  }
  return bag.size === 0 ? undefined : bag;
}

async function statOrMissing(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw unreadable(path, describe(err), err);
  }
}

/** Reads a regular file, refusing more than MAX_SOURCE_BYTES even if it grows while read. */
export async function readCapped(path: string): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw unreadable(path, describe(err), err);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw unreadable(path, "it is neither a regular file nor a directory", undefined);
    }
    if (info.size > MAX_SOURCE_BYTES) throw tooLarge(path, info.size);
    // Sized by stat, one byte over to see the end; grown only if the file grows while read (or
    // stat does not know its size, as in /proc). A fixed 1 MiB buffer per read would make every
    // reconcile allocate megabytes of external memory, and V8 answers that with a full GC.
    let buffer = Buffer.allocUnsafe(Math.min(MAX_SOURCE_BYTES + 1, Math.max(info.size + 1, 4096)));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const grown = Buffer.allocUnsafe(Math.min(MAX_SOURCE_BYTES + 1, buffer.length * 2));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_SOURCE_BYTES) throw tooLarge(path, length);
    }
    // Only the bytes read are returned: the rest of an unsafe allocation never leaves here.
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof RelationError) throw err;
    throw unreadable(path, describe(err), err);
  } finally {
    await handle.close();
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "EACCES" || e?.code === "EPERM") return "permission denied";
  if (e?.code === "EISDIR") return "it is a directory";
  if (e?.code === "ELOOP") return "too many levels of symbolic links";
  return e?.code ? `${e.code}` : "I/O error";
}

function unreadable(path: string, why: string, cause: unknown): RelationError {
  return new RelationError(
    "UNREADABLE",
    `cannot read ${path}: ${why}`,
    "make the relation data readable by the sidecar's user (file mode, owner, mount) or fix the --relation path",
    path,
    { cause },
  );
}

function tooLarge(path: string, size: number): RelationError {
  return new RelationError(
    "TOO_LARGE",
    `${path} is larger than ${MAX_SOURCE_BYTES} bytes (${size} read), the most relation data may hold`,
    "point --relation at the relation data itself (a small JSON/YAML file or a key directory), not at another file",
    path,
  );
}
