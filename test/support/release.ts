// What `npm run package` left in release/, for the tests that run and inspect it (test/package/).
import { closeSync, existsSync, openSync, readFileSync, readSync } from "node:fs";
import { binaryPath, debPath, hostTarget, type Target } from "../../scripts/package/targets.js";
import { ROOT } from "./root.js";

/**
 * The package's version, from the repository's package.json (found from ROOT: src/cli/version.ts
 * looks two folders up, which the bench's compiled copy under build/demo/ is not).
 */
export const VERSION = String(JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")).version);

function built(path: string): string {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`npm run package\` (npm test's pretest does)`);
  }
  return path;
}

/** The single-file binary for `target`, or an error saying how to build it. */
export function releaseBinary(target: Target): string {
  return built(binaryPath(target));
}

/** The .deb for `target`, or an error saying how to build it. */
export function releaseDeb(target: Target): string {
  return built(debPath(target, VERSION));
}

/** The target this machine can run; the packaging tests need one (linux x64 or arm64). */
export function runnableTarget(): Target {
  const host = hostTarget();
  if (host === undefined)
    throw new Error(`no release binary runs on ${process.platform} ${process.arch}`);
  return host;
}

/** An ELF file's class, byte order and machine, from its first 20 bytes. */
export function elfHeader(path: string): {
  magic: boolean;
  bits: number;
  littleEndian: boolean;
  machine: number;
} {
  const head = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  const littleEndian = head[5] === 1;
  return {
    magic: head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])),
    bits: head[4] === 2 ? 64 : 32,
    littleEndian,
    machine: littleEndian ? head.readUInt16LE(18) : head.readUInt16BE(18),
  };
}
