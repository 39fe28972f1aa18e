// What `npm run package` builds, and what its tests check it against (test/package/).
import { join } from "node:path";
import { ROOT } from "../../test/support/root.js";

/** The Node.js the binaries carry: the npm registry's build for each platform, pinned by hash. */
export const NODE_VERSION = "22.23.5";

export interface Target {
  /** Node's name for the architecture (process.arch, the npm package node-linux-<arch>). */
  readonly arch: "x64" | "arm64";
  /** Debian's name for it. */
  readonly debArch: "amd64" | "arm64";
  /** The ELF header's e_machine. */
  readonly elfMachine: number;
  /** The strip(1) that reads this architecture's ELF files, and the Debian package that has it. */
  readonly strip: { readonly command: string; readonly debian: string };
  /** dist.integrity of node-linux-<arch>@NODE_VERSION, as the registry publishes it. */
  readonly nodeIntegrity: string;
}

export const TARGETS: readonly Target[] = [
  {
    arch: "x64",
    debArch: "amd64",
    elfMachine: 62,
    strip: { command: "x86_64-linux-gnu-strip", debian: "binutils-x86-64-linux-gnu" },
    nodeIntegrity:
      "sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==",
  },
  {
    arch: "arm64",
    debArch: "arm64",
    elfMachine: 183,
    strip: { command: "aarch64-linux-gnu-strip", debian: "binutils-aarch64-linux-gnu" },
    nodeIntegrity:
      "sha512-e1LOUGKVruPGuLVutn8+Cgm5pI1APm4Kvh+zbb/qe/ZpD9s+TQby5iUgZOWmPpbSKpj0Td8DP1N0NEnXasHizg==",
  },
];

/** The SEA fuse Node looks for; postject flips its last byte to 1 when it injects the blob. */
export const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
/** The ELF note that carries the SEA blob. */
export const SEA_RESOURCE = "NODE_SEA_BLOB";

export const RELEASE_DIR = join(ROOT, "release");
/** Intermediate files: the bundle, the blobs, the packages' trees. */
export const WORK_DIR = join(ROOT, "build", "package");

export const PACKAGE_NAME = "parca-agent-sidecar";

export function binaryPath(target: Target): string {
  return join(RELEASE_DIR, `${PACKAGE_NAME}-linux-${target.arch}`);
}

export function debPath(target: Target, version: string): string {
  return join(RELEASE_DIR, `${PACKAGE_NAME}_${version}_${target.debArch}.deb`);
}

export function blobPath(target: Target): string {
  return join(WORK_DIR, `sea-${target.arch}.blob`);
}

/** The target this machine runs, or undefined (the binaries are then built but not run here). */
export function hostTarget(): Target | undefined {
  return process.platform === "linux" ? TARGETS.find((t) => t.arch === process.arch) : undefined;
}
