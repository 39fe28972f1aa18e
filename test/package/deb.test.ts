// The .deb packages of `npm run package`: their metadata and contents as dpkg-deb reads them,
// lintian (Debian's checker), the packaged unit under systemd-analyze, and the maintainer scripts
// run by dpkg in a scratch root: this machine's own system is never touched.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { TARGETS } from "../../scripts/package/targets.js";
import { olderThan, parseVersion } from "../../src/core/version.js";
import { releaseBinary, releaseDeb, runnableTarget, VERSION } from "../support/release.js";
import { ROOT } from "../support/root.js";
import { tempDir } from "../support/tmp.js";

const exec = promisify(execFile);
const PKG = "parca-agent-sidecar";

async function output(command: string, args: readonly string[]): Promise<string> {
  return (await exec(command, [...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

/** Everything the package installs: mode, owner and path, as `dpkg-deb --contents` lists them. */
const CONTENTS = [
  ["drwxr-xr-x", "./etc/"],
  ["drwxr-xr-x", "./etc/default/"],
  ["-rw-r--r--", `./etc/default/${PKG}`],
  ["drwxr-xr-x", "./lib/"],
  ["drwxr-xr-x", "./lib/systemd/"],
  ["drwxr-xr-x", "./lib/systemd/system/"],
  ["-rw-r--r--", `./lib/systemd/system/${PKG}.service`],
  ["drwxr-xr-x", "./usr/"],
  ["drwxr-xr-x", "./usr/bin/"],
  ["-rwxr-xr-x", `./usr/bin/${PKG}`],
  ["drwxr-xr-x", "./usr/share/"],
  ["drwxr-xr-x", "./usr/share/doc/"],
  ["drwxr-xr-x", `./usr/share/doc/${PKG}/`],
  ["-rw-r--r--", `./usr/share/doc/${PKG}/changelog.gz`],
  ["-rw-r--r--", `./usr/share/doc/${PKG}/copyright`],
  ["drwxr-xr-x", "./usr/share/lintian/"],
  ["drwxr-xr-x", "./usr/share/lintian/overrides/"],
  ["-rw-r--r--", `./usr/share/lintian/overrides/${PKG}`],
  ["drwxr-xr-x", "./usr/share/man/"],
  ["drwxr-xr-x", "./usr/share/man/man1/"],
  ["-rw-r--r--", `./usr/share/man/man1/${PKG}.1.gz`],
  ["drwxr-xr-x", `./usr/share/${PKG}/`],
  ["-rwxr-xr-x", `./usr/share/${PKG}/parca-store-endpoint-relation-changed`],
  ["-rwxr-xr-x", `./usr/share/${PKG}/snap-restart`],
];

const versionOf = (text: string) => parseVersion(text) ?? [0, 0, 0];

/** The highest symbol version an ELF file needs from each versioned library (GLIBC, GLIBCXX). */
async function neededVersions(binary: string): Promise<Record<string, string>> {
  const text = await output("readelf", ["-V", "--wide", binary]);
  const highest: Record<string, string> = {};
  for (const [, lib, version] of text.matchAll(/Name: (GLIBC|GLIBCXX)_([\d.]+)/g)) {
    const key = lib as string;
    const current = highest[key];
    if (current === undefined || olderThan(versionOf(current), versionOf(version as string))) {
      highest[key] = version as string;
    }
  }
  return highest;
}

describe.each(TARGETS.map((t) => [t.debArch, t] as const))("the %s package", (debArch, target) => {
  const deb = releaseDeb(target);

  it("says what it is, and depends on no more than what its binary needs", async () => {
    const info = await output("dpkg-deb", ["--info", deb]);
    const field = (name: string) => new RegExp(`^ ${name}: (.*)$`, "m").exec(info)?.[1];
    expect(field("Package")).toBe(PKG);
    expect(field("Version")).toBe(VERSION);
    expect(field("Architecture")).toBe(debArch);
    expect(field("Section")).toBe("admin");
    expect(field("Depends")).toBe(
      "libc6 (>= 2.28), libgcc-s1 | libgcc1, libstdc++6 (>= 5.2), init-system-helpers (>= 1.52)",
    );
    expect(Number(field("Installed-Size"))).toBeGreaterThan(90_000);
    // libc6 2.28 provides GLIBC_2.28; libstdc++6 from GCC 5.2 provides GLIBCXX_3.4.21.
    expect(await neededVersions(releaseBinary(target))).toEqual({
      GLIBC: "2.28",
      GLIBCXX: "3.4.21",
    });
    // The maintainer scripts, executable, and the one conffile.
    for (const script of ["postinst", "prerm", "postrm"]) {
      expect(info).toMatch(
        new RegExp(`^ +\\d+ bytes, +\\d+ lines +\\* +${script} +#!/bin/sh$`, "m"),
      );
    }
    expect(await output("dpkg-deb", ["--info", deb, "conffiles"])).toBe(`/etc/default/${PKG}\n`);
  });

  it("installs exactly its files, root-owned, with their modes", async () => {
    const listing = (await output("dpkg-deb", ["--contents", deb]))
      .trim()
      .split("\n")
      .map((line) => line.split(/\s+/))
      .map((f) => [f[0], f[1], f[5]]);
    expect(listing.filter(([, , path]) => path !== "./")).toEqual(
      CONTENTS.map(([mode, path]) => [mode, "root/root", path]),
    );
  });

  it("passes lintian: no error or warning, and every override is used and says why", async () => {
    // Info tags shown too: lintian reports an override that matched nothing as unused-override.
    const { stdout, stderr } = await exec("lintian", ["--fail-on", "error,warning", "-I", deb], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const lines = `${stdout}${stderr}`.split("\n");
    expect(lines.filter((l) => /^[EW]:/.test(l))).toEqual([]);
    expect(lines.filter((l) => /(unused|mismatched)-override/.test(l))).toEqual([]);
    const overrides = (
      await readFile(join(ROOT, "deploy", "debian", "lintian-overrides"), "utf8")
    ).split("\n");
    const tags = overrides.filter((l) => l.startsWith(`${PKG}: `));
    expect(tags.length).toBeGreaterThan(0);
    for (const tag of tags) {
      // A comment above each group of overrides says why.
      const above = overrides
        .slice(0, overrides.indexOf(tag))
        .reverse()
        .find((l) => !l.startsWith(`${PKG}: `));
      expect(above?.startsWith("# "), tag).toBe(true);
    }
  }, 180_000);
});

describe(`the ${runnableTarget().debArch} package in a scratch root`, () => {
  const target = runnableTarget();
  const deb = releaseDeb(target);

  /** An empty dpkg database under `root`, as `dpkg --root` needs. */
  async function scratchRoot(): Promise<string> {
    const root = await tempDir("pas-deb-root-");
    await mkdir(join(root, "var", "lib", "dpkg", "info"), { recursive: true });
    await mkdir(join(root, "var", "lib", "dpkg", "updates"), { recursive: true });
    await writeFile(join(root, "var", "lib", "dpkg", "status"), "");
    return root;
  }

  /**
   * dpkg on the scratch root. Its maintainer scripts run without a chroot (the scratch root has
   * no shell), with DPKG_ROOT set, as on a system being bootstrapped; the scratch root has none of
   * the libraries the package depends on, so dependencies are not enforced there.
   */
  const dpkg = (root: string, ...args: string[]) =>
    output("dpkg", [`--root=${root}`, "--force-script-chrootless", "--force-depends", ...args]);
  const status = async (root: string) =>
    /^Status: (.*)$/m.exec(await output("dpkg", [`--root=${root}`, "-s", PKG]))?.[1];

  it("lintian can fail: without the overrides file, its errors are reported", async () => {
    const dir = await tempDir("pas-deb-lint-");
    const tree = join(dir, "tree");
    await exec("dpkg-deb", ["-R", deb, tree]);
    await exec("rm", [join(tree, "usr", "share", "lintian", "overrides", PKG)]);
    const bare = join(dir, `${PKG}_${VERSION}_${target.debArch}.deb`);
    await exec("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", tree, bare]);
    const failed = await exec("lintian", ["--fail-on", "error,warning", bare]).then(
      () => "",
      (err: { stdout: string; stderr: string }) => `${err.stdout}${err.stderr}`,
    );
    expect(failed).toContain("E: parca-agent-sidecar: embedded-library zlib");
  }, 180_000);

  it("the unit it installs passes systemd-analyze verify, with the installed binary at the unit's path", async () => {
    const root = await tempDir("pas-deb-x-");
    await exec("dpkg-deb", ["-x", deb, root]);
    const unit = await readFile(join(root, "lib", "systemd", "system", `${PKG}.service`), "utf8");
    expect(unit).toBe(await readFile(join(ROOT, "deploy", "systemd", `${PKG}.service`), "utf8"));
    expect(unit).toContain(`ExecStart=/usr/bin/${PKG} run`);
    const dir = await tempDir("pas-deb-unit-");
    const path = join(dir, `${PKG}.service`);
    // systemd-analyze checks ExecStart's binary on this machine's filesystem: the path is the
    // scratch root's copy of /usr/bin/parca-agent-sidecar; nothing else in the unit changes.
    await writeFile(path, unit.replace(`/usr/bin/${PKG}`, join(root, "usr", "bin", PKG)));
    const verify = await exec("systemd-analyze", ["verify", "--man=no", path]);
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe("");
  });

  it("installs, upgrades in place, removes (keeping its conffile) and purges (removing its state), its scripts run cleanly; this machine's own system is untouched", async () => {
    const hostUnit = `/lib/systemd/system/${PKG}.service`;
    const hostHadUnit = existsSync(hostUnit);
    const root = await scratchRoot();

    await dpkg(root, "-i", deb);
    expect(await status(root)).toBe("install ok installed");
    const binary = join(root, "usr", "bin", PKG);
    expect((await exec(binary, ["--version"], { env: {} })).stdout).toBe(`${VERSION}\n`);
    const defaults = join(root, "etc", "default", PKG);
    expect(await readFile(defaults, "utf8")).toBe(
      await readFile(join(ROOT, "deploy", "debian", `${PKG}.default`), "utf8"),
    );
    for (const hook of ["parca-store-endpoint-relation-changed", "snap-restart"]) {
      expect(await readFile(join(root, "usr", "share", PKG, hook), "utf8")).toBe(
        await readFile(join(ROOT, "deploy", "juju", hook), "utf8"),
      );
    }

    // The same version again: dpkg runs the upgrade's path (postinst configure <old version>).
    await writeFile(defaults, "PARCA_SIDECAR_RELATION=/srv/relation.json\n");
    await dpkg(root, "-i", deb);
    expect(await status(root)).toBe("install ok installed");
    expect(await readFile(defaults, "utf8")).toBe("PARCA_SIDECAR_RELATION=/srv/relation.json\n");

    // Remove: the binary goes, the edited conffile stays.
    await dpkg(root, "-r", PKG);
    expect(await status(root)).toBe("deinstall ok config-files");
    expect(existsSync(binary)).toBe(false);
    expect(existsSync(defaults)).toBe(true);

    // Purge: the conffile and the service's state (postrm, under DPKG_ROOT) go too.
    const state = join(root, "var", "lib", PKG, "relation");
    await mkdir(state, { recursive: true });
    await writeFile(join(state, "parca-store.json"), "{}");
    await dpkg(root, "-P", PKG);
    expect(existsSync(defaults)).toBe(false);
    expect(existsSync(join(root, "var", "lib", PKG))).toBe(false);
    await expect(output("dpkg", [`--root=${root}`, "-s", PKG])).rejects.toThrow();

    expect(existsSync(hostUnit)).toBe(hostHadUnit);
    await expect(output("dpkg-query", ["-W", PKG])).rejects.toThrow();
  }, 120_000);
});
