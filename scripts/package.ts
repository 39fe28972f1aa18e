// `npm run package`: the sidecar for a VM without Node, into release/ —
//   parca-agent-sidecar-linux-{x64,arm64}        one file each: the CLI bundled into one CommonJS
//                                                file (esbuild) and injected as a single executable
//                                                application (SEA) into Node's own binary
//   parca-agent-sidecar_<version>_{amd64,arm64}.deb  that binary, the systemd unit, its defaults
//                                                file, the Juju hook, a man page
// The Node binaries are the npm registry's node-linux-<arch> builds, pinned by hash
// (scripts/package/targets.ts) and cached in ~/.cache/parca-agent-sidecar/node/.
// Needs dpkg-deb, readelf and a strip(1) for each architecture (scripts/test-deps.sh installs them).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { ROOT } from "../test/support/root.js";
import {
  binaryPath,
  blobPath,
  debPath,
  hostTarget,
  NODE_VERSION,
  PACKAGE_NAME,
  RELEASE_DIR,
  SEA_FUSE,
  SEA_RESOURCE,
  TARGETS,
  type Target,
  WORK_DIR,
} from "./package/targets.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
const started = Date.now();

function say(line: string): void {
  console.log(`[package ${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`);
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Every tool the build runs, or one message naming the Debian packages that provide them. */
function checkTools(): void {
  const needed = new Map<string, string>([
    ["dpkg-deb", "dpkg"],
    ["readelf", "binutils"],
    ...TARGETS.map((t) => [t.strip.command, t.strip.debian] as [string, string]),
  ]);
  const missing = [...needed].filter(([command]) => {
    try {
      execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, debian]) => debian))].join(" ");
    throw new Error(`needs ${missing.map(([c]) => c).join(", ")}: apt-get install -y ${packages}`);
  }
  if (hostTarget() === undefined) {
    throw new Error(
      `builds on linux x64 or arm64 only (it runs Node ${NODE_VERSION} of this platform to make the SEA blobs); this is ${process.platform} ${process.arch}`,
    );
  }
}

/** The CLI and everything it imports, in one CommonJS file (Node 22's SEA runs CommonJS). */
async function bundle(): Promise<{ file: string; modules: string[] }> {
  const file = join(WORK_DIR, "cli.cjs");
  const result = await build({
    absWorkingDir: ROOT, // the metafile's paths, read below, are relative to it
    entryPoints: [join(ROOT, "src", "cli.ts")],
    outfile: file,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    metafile: true,
    logLevel: "warning",
    legalComments: "none",
    // src/cli/version.ts: no package.json sits beside the bundle.
    define: {
      PARCA_AGENT_SIDECAR_VERSION: JSON.stringify(pkg.version),
      "import.meta.url": "__bundle_url",
    },
    // import.meta has no CommonJS equivalent: the file's own URL stands in (src/yaml.ts's ESM path,
    // never taken in the bundle, still names it).
    banner: { js: `const __bundle_url = require("node:url").pathToFileURL(__filename).href;` },
  });
  // Each bundled package by its own directory (a nested copy of another version included).
  const modules = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1]) modules.add(m[1]);
  }
  return { file, modules: [...modules].sort() };
}

/** node-linux-<arch>'s bin/node, downloaded once with `npm pack` and checked against its hash. */
function nodeBinary(target: Target): string {
  const dir = join(
    process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"),
    "parca-agent-sidecar",
    "node",
    `node-linux-${target.arch}-${NODE_VERSION}`,
  );
  const binary = join(dir, "package", "bin", "node");
  if (existsSync(binary)) return binary;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  say(`downloading node-linux-${target.arch}@${NODE_VERSION} from the npm registry`);
  const packed = JSON.parse(
    run("npm", [
      "pack",
      `node-linux-${target.arch}@${NODE_VERSION}`,
      "--json",
      "--pack-destination",
      dir,
    ]),
  ) as { filename: string }[];
  const tarball = join(dir, packed[0]?.filename ?? "");
  const integrity = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  if (integrity !== target.nodeIntegrity) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `node-linux-${target.arch}@${NODE_VERSION} does not match its pinned hash: got ${integrity}, want ${target.nodeIntegrity}`,
    );
  }
  run("tar", ["-xzf", tarball, "-C", dir, "package/bin/node", "package/LICENSE"]);
  rmSync(tarball);
  return binary;
}

/**
 * The SEA blob for each target, made by this platform's Node (the blob format belongs to the Node
 * version, so it must be the version the binaries carry). V8's code cache is specific to the
 * architecture: only the host's binary gets one (it starts `--version` ~25 ms sooner).
 */
function blob(target: Target, main: string, generator: string): string {
  const output = blobPath(target);
  const config = join(WORK_DIR, `sea-${target.arch}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      main,
      output,
      disableExperimentalSEAWarning: true,
      useCodeCache: target.arch === hostTarget()?.arch,
      useSnapshot: false,
    }),
  );
  run(generator, ["--experimental-sea-config", config]);
  return output;
}

/** Node's binary, stripped of its debug info (125 → 107 MB), with the blob injected. */
function executable(target: Target, node: string, blobFile: string): string {
  const out = binaryPath(target);
  const partial = `${out}.partial`;
  copyFileSync(node, partial);
  chmodSync(partial, 0o755);
  // GNU strip warns about Node's 256 notes (it cannot name them all) and strips all the same.
  run(target.strip.command, ["--strip-all", "--remove-section=.comment", partial]);
  // postject's own CLI, so that LIEF's chatter about those notes stays in the pipe.
  const postject = join(ROOT, "node_modules", "postject", "dist", "cli.js");
  run(process.execPath, [postject, partial, SEA_RESOURCE, blobFile, "--sentinel-fuse", SEA_FUSE]);
  renameSync(partial, out);
  return out;
}

/** The man page: the CLI's own help for the program and each command, and where things live. */
function manPage(): Buffer {
  const cli = join(ROOT, "dist", "cli.js");
  const help = (args: string[]) => run(process.execPath, [cli, ...args]).trimEnd();
  const verbatim = (text: string) =>
    text
      .split("\n")
      .map((line) => line.replaceAll("\\", "\\e").replace(/^([.'])/, "\\&$1"))
      .join("\n");
  const commands = ["run", "render", "check", "status", "pause", "resume"];
  const date = new Date(sourceDateMs()).toISOString().slice(0, 10);
  const page = [
    `.TH PARCA-AGENT-SIDECAR 1 "${date}" "${PACKAGE_NAME} ${pkg.version}" "User Commands"`,
    ".SH NAME",
    `${PACKAGE_NAME} \\- keeps parca-agent pointed at the right Parca store`,
    ".SH SYNOPSIS",
    `.B ${PACKAGE_NAME}`,
    ".I command",
    "[options] [\\-\\- agent base args]",
    ".SH DESCRIPTION",
    ".nf",
    verbatim(help(["--help"])),
    ".fi",
    ...commands.flatMap((c) => [
      `.SH COMMAND: ${c.toUpperCase()}`,
      ".nf",
      verbatim(help([c, "--help"])),
      ".fi",
    ]),
    ".SH FILES",
    ".TP",
    ".I /etc/default/parca-agent-sidecar",
    "The systemd unit's settings: PARCA_SIDECAR_<OPTION> variables and PARCA_AGENT_ARGS.",
    ".TP",
    ".I /lib/systemd/system/parca-agent-sidecar.service",
    "The unit: supervise mode, the agent at /usr/bin/parca-agent, state in /var/lib/parca-agent-sidecar.",
    ".TP",
    ".I /usr/share/parca-agent-sidecar/",
    "The Juju hook that writes the relation data file, and snap-restart for a parca-agent snap.",
    ".SH SEE ALSO",
    ".BR systemctl (1)",
    "",
  ].join("\n");
  return gzipSync(page, { level: 9 });
}

/** The last commit's time, so that a rebuild of one commit gives the same dates. */
function sourceDateMs(): number {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isFinite(fromEnv) && fromEnv > 0) return fromEnv * 1000;
  try {
    return Number(run("git", ["-C", ROOT, "log", "-1", "--format=%ct"]).trim()) * 1000;
  } catch {
    return Date.now();
  }
}

/** The copyright file: the sidecar's licence, then every bundled npm package's, then Node's. */
function copyright(modules: readonly string[], nodeLicense: string): string {
  const own = readFileSync(join(ROOT, "deploy", "debian", "copyright.in"), "utf8");
  const bundled = modules.map((dir) => {
    const meta = JSON.parse(readFileSync(join(ROOT, dir, "package.json"), "utf8")) as {
      name: string;
      version: string;
      license?: string;
    };
    return `  ${meta.name} ${meta.version}: ${meta.license ?? "see its package"}`;
  });
  return `${own
    .replace("@BUNDLED@", bundled.join("\n"))
    .replace("@NODE_VERSION@", NODE_VERSION)}${nodeLicense
    .split("\n")
    .map((l) => (l.trim() === "" ? " ." : ` ${l}`))
    .join("\n")}\n`;
}

function maintainer(): string {
  return (
    process.env.DEB_MAINTAINER ??
    "parca-agent-sidecar maintainers <parca-agent-sidecar@users.noreply.github.com>"
  );
}

function changelog(): Buffer {
  const date = new Date(sourceDateMs()).toUTCString().replace("GMT", "+0000");
  const text = `${PACKAGE_NAME} (${pkg.version}) unstable; urgency=medium\n\n  * Release ${pkg.version}: the single-file binary and its systemd unit.\n\n -- ${maintainer()}  ${date}\n`;
  return gzipSync(text, { level: 9 });
}

/** The .deb's tree, then `dpkg-deb --build` (root-owned files, xz, as Debian's own packages). */
function deb(
  target: Target,
  binary: string,
  files: { copyright: string; man: Buffer; changelog: Buffer },
): string {
  const tree = join(WORK_DIR, `deb-${target.debArch}`);
  rmSync(tree, { recursive: true, force: true });
  const put = (path: string, data: string | Buffer, mode: number) => {
    const full = join(tree, path);
    mkdirSync(join(full, ".."), { recursive: true, mode: 0o755 });
    writeFileSync(full, data);
    chmodSync(full, mode);
  };
  const source = (...parts: string[]) => readFileSync(join(ROOT, "deploy", ...parts));
  put(`usr/bin/${PACKAGE_NAME}`, readFileSync(binary), 0o755);
  put(
    `lib/systemd/system/${PACKAGE_NAME}.service`,
    source("systemd", `${PACKAGE_NAME}.service`),
    0o644,
  );
  put(`etc/default/${PACKAGE_NAME}`, source("debian", `${PACKAGE_NAME}.default`), 0o644);
  for (const hook of ["parca-store-endpoint-relation-changed", "snap-restart"]) {
    put(`usr/share/${PACKAGE_NAME}/${hook}`, source("juju", hook), 0o755);
  }
  put(`usr/share/doc/${PACKAGE_NAME}/copyright`, files.copyright, 0o644);
  put(`usr/share/doc/${PACKAGE_NAME}/changelog.gz`, files.changelog, 0o644);
  put(`usr/share/man/man1/${PACKAGE_NAME}.1.gz`, files.man, 0o644);
  put(`usr/share/lintian/overrides/${PACKAGE_NAME}`, source("debian", "lintian-overrides"), 0o644);

  const payload = listFiles(tree);
  const md5sums = payload
    .map(
      (path) =>
        `${createHash("md5")
          .update(readFileSync(join(tree, path)))
          .digest("hex")}  ${path}\n`,
    )
    .join("");
  const installedKb = Math.ceil(
    payload.reduce((sum, p) => sum + statSync(join(tree, p)).size, 0) / 1024,
  );
  const control = source("debian", "control.in")
    .toString()
    .replace("@VERSION@", pkg.version)
    .replace("@ARCH@", target.debArch)
    .replace("@MAINTAINER@", maintainer())
    .replace("@INSTALLED_SIZE@", String(installedKb));
  put("DEBIAN/control", control, 0o644);
  put("DEBIAN/md5sums", md5sums, 0o644);
  put("DEBIAN/conffiles", `/etc/default/${PACKAGE_NAME}\n`, 0o644);
  for (const script of ["postinst", "prerm", "postrm"])
    put(`DEBIAN/${script}`, source("debian", script), 0o755);

  const out = debPath(target, pkg.version);
  run("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", tree, out]);
  return out;
}

/** Every regular file under `dir` but DEBIAN/, relative, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at).sort()) {
      const full = join(at, entry);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(dir, full));
    }
  };
  walk(dir);
  return out.filter((p) => !p.startsWith("DEBIAN/"));
}

function size(path: string): string {
  return `${(statSync(path).size / 1e6).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  checkTools();
  mkdirSync(WORK_DIR, { recursive: true });
  mkdirSync(RELEASE_DIR, { recursive: true });
  const { file: main, modules } = await bundle();
  say(`bundled the CLI: ${size(main)}, ${modules.length} npm packages`);
  const host = hostTarget() as Target;
  const nodes = new Map(TARGETS.map((t) => [t.arch, nodeBinary(t)]));
  const generator = nodes.get(host.arch) as string;
  const nodeLicense = readFileSync(join(generator, "..", "..", "LICENSE"), "utf8");
  const files = {
    copyright: copyright(modules, nodeLicense),
    man: manPage(),
    changelog: changelog(),
  };
  for (const target of TARGETS) {
    const binary = executable(
      target,
      nodes.get(target.arch) as string,
      blob(target, main, generator),
    );
    say(`${relative(ROOT, binary)}: ${size(binary)}`);
    const package_ = deb(target, binary, files);
    say(`${relative(ROOT, package_)}: ${size(package_)}`);
  }
}

main().catch((err: Error) => {
  console.error(`npm run package: ${err.message}`);
  process.exit(1);
});
