import { constants } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Problem } from "../problem.js";
import type { Databag } from "./config.js";
import { toStoreConfig } from "./config.js";
import { parseDatabag } from "./content.js";
import { RelationError } from "./errors.js";
import { isKeyFile, unknownKeys } from "./lookalike.js";
import { MAX_SOURCE_BYTES, RELATION_KEYS, type StoreConfig } from "./types.js";

/** What one relation source holds right now. */
export type SourceRead =
  | { readonly kind: "missing"; readonly path: string }
  | { readonly kind: "unconfigured"; readonly path: string; readonly lookalike?: Problem }
  | {
      readonly kind: "configured";
      readonly path: string;
      readonly config: StoreConfig;
      /** UNKNOWN_KEYS (names that look like the relation's keys but are not), ADDRESS_FROM_URL. */
      readonly warnings: readonly Problem[];
    }
  | { readonly kind: "error"; readonly path: string; readonly error: RelationError };

/**
 * Reads one `--relation` source: a JSON or YAML file, or a directory of key files (a mounted
 * Secret or ConfigMap, read through its `..data` symlinks). Never throws.
 */
export async function readSource(path: string): Promise<SourceRead> {
  try {
    const read = await readDatabag(path);
    if (read === "missing") return { kind: "missing", path };
    const { bag, names, directory } = read;
    const lookalike = unknownKeys(path, names, { directory });
    const found = bag === undefined ? undefined : toStoreConfig(bag, path);
    if (found === undefined) {
      return { kind: "unconfigured", path, ...(lookalike ? { lookalike } : {}) };
    }
    const warnings = lookalike ? [lookalike, ...found.warnings] : found.warnings;
    return { kind: "configured", path, config: found.config, warnings };
  } catch (err) {
    let error =
      err instanceof RelationError
        ? err.withPath(path)
        : unreadable(path, err instanceof Error ? err.message : String(err), err);
    if (error.code === "MALFORMED" && isKeyFile(path)) {
      error = new RelationError(
        "MALFORMED",
        `${path} is a single key file, not a relation source`,
        `point --relation at its directory (--relation ${dirname(path)}), which holds the key files`,
        path,
        { cause: error },
      );
    }
    return { kind: "error", path, error };
  }
}

/** A source's data, the names in it (keys, or a directory's entries), and whether it is a directory. */
interface Read {
  readonly bag: Databag | undefined;
  readonly names: Iterable<string>;
  readonly directory: boolean;
}

async function readDatabag(path: string): Promise<Read | "missing"> {
  const handle = await openOrMissing(path);
  if (handle === undefined) return "missing";
  let content: Uint8Array | "directory";
  try {
    content = await readOpen(path, handle);
  } finally {
    await handle.close();
  }
  if (content === "directory") return readKeyDirectory(path);
  const bag = parseDatabag(content);
  return { bag, names: bag?.keys() ?? [], directory: false };
}

async function readKeyDirectory(dir: string): Promise<Read> {
  const entries = await readdir(dir).catch((err: unknown) => {
    throw unreadable(dir, describe(err), err);
  });
  // A mounted Secret's own entries (..data, ..2026_…) are not keys.
  const names = entries.filter((name) => !name.startsWith("."));
  const bag = new Map<string, string>();
  for (const key of RELATION_KEYS) {
    const file = join(dir, key);
    const handle = await openOrMissing(file);
    if (handle === undefined) continue;
    let content: Uint8Array | "directory";
    try {
      content = await readOpen(file, handle);
    } finally {
      await handle.close();
    }
    if (content === "directory") throw unreadable(file, "it is a directory", undefined);
    // Key files hold the value alone; validation names a bad value more precisely than a
    // decoding error would.
    bag.set(key, Buffer.from(content).toString("utf8"));
  }
  return { bag: bag.size === 0 ? undefined : bag, names, directory: true };
}

type Handle = Awaited<ReturnType<typeof open>>;

/** Opens a file or directory for reading; undefined when it does not exist. */
async function openOrMissing(path: string): Promise<Handle | undefined> {
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    return await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw unreadable(path, describe(err), err);
  }
}

/** Reads a regular file, refusing more than MAX_SOURCE_BYTES even if it grows while read. */
export async function readCapped(path: string): Promise<Uint8Array> {
  const handle = await openOrMissing(path);
  if (handle === undefined) throw unreadable(path, "ENOENT", undefined);
  try {
    const content = await readOpen(path, handle);
    if (content === "directory") throw unreadable(path, "it is a directory", undefined);
    return content;
  } finally {
    await handle.close();
  }
}

/** The content of an open regular file, or "directory"; never more than MAX_SOURCE_BYTES. */
async function readOpen(path: string, handle: Handle): Promise<Uint8Array | "directory"> {
  try {
    const info = await handle.stat();
    if (info.isDirectory()) return "directory";
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
      const wanted = buffer.length - length;
      const { bytesRead } = await handle.read(buffer, length, wanted, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_SOURCE_BYTES) throw tooLarge(path, length);
      // A short read of a regular file whose size stat knew is its end: no extra read to see 0.
      if (info.size > 0 && bytesRead < wanted) break;
    }
    // Only the bytes read are returned: the rest of an unsafe allocation never leaves here.
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof RelationError) throw err;
    throw unreadable(path, describe(err), err);
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
