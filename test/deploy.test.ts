import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Options, parseCommandLine } from "../src/cli/options.js";
import { runConfig } from "../src/cli/run-config.js";
import { ROOT } from "./support/root.js";
import { tempDir } from "./support/tmp.js";

const run = promisify(execFile);
const deploy = (...parts: string[]) => join(ROOT, "deploy", ...parts);

/** The sidecar's own options must parse exactly as `run` would parse them. */
function parseRunArgs(args: string[]) {
  return runConfig(new Options(parseCommandLine("run", args, {})), false);
}

describe("Kubernetes manifest", () => {
  const docs = parseAllDocuments(
    readFileSync(deploy("kubernetes", "parca-agent.yaml"), "utf8"),
  ).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS();
  });
  const ds = docs.find((d) => d.kind === "DaemonSet");
  const pod = ds.spec.template.spec;
  const container = pod.containers[0];

  it("runs privileged with hostPID, as the agent needs", () => {
    expect(pod.hostPID).toBe(true);
    expect(container.securityContext.privileged).toBe(true);
  });

  it("probes the health-only port with native gRPC probes for liveness and readiness", () => {
    expect(container.livenessProbe.grpc).toEqual({ port: 7073, service: "liveness" });
    expect(container.readinessProbe.grpc).toEqual({ port: 7073, service: "readiness" });
    const config = parseRunArgs(container.args);
    expect(config.healthListen).toBe("0.0.0.0:7073");
    expect(config.listen).toBe("127.0.0.1:7072");
  });

  it("reads the relation from a whole Secret volume, keeps state on the host, passes the token by file", () => {
    const config = parseRunArgs(container.args);
    expect(config.tokenMode).toBe("file");
    const mount = container.volumeMounts.find(
      (m: { mountPath: string }) => m.mountPath === config.relations[0],
    );
    expect(mount.subPath).toBeUndefined();
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.secret.secretName).toBe("parca-store");
    const stateMount = container.volumeMounts.find(
      (m: { mountPath: string }) => m.mountPath === config.stateDir,
    );
    expect(
      pod.volumes.find((v: { name: string }) => v.name === stateMount.name).hostPath.path,
    ).toBe(config.stateDir);
    const secret = docs.find((d) => d.kind === "Secret");
    expect(Object.keys(secret.stringData)).toContain("remote-store-address");
    expect(config.baseArgs).toContain("--node=$(NODE_NAME)");
  });
});

describe("systemd unit", () => {
  const text = readFileSync(deploy("systemd", "parca-agent-sidecar.service"), "utf8");
  const settings = new Map<string, string>();
  for (const line of text.replace(/\\\n\s*/g, " ").split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1] as string, m[2] as string);
  }

  it("restarts on failure, keeps its state dir, and lets the sidecar stop the agent's group", () => {
    expect(settings.get("Restart")).toBe("on-failure");
    expect(settings.get("KillMode")).toBe("mixed");
    expect(settings.get("StateDirectory")).toBe("parca-agent-sidecar");
    expect(settings.get("MemoryDenyWriteExecute")).toBeUndefined();
    expect(settings.get("ProtectKernelTunables")).toBeUndefined();
  });

  it("starts `run` with options that parse", () => {
    const [binary, command, ...args] = (settings.get("ExecStart") ?? "").split(/\s+/);
    expect(binary).toBe("/usr/bin/parca-agent-sidecar");
    expect(command).toBe("run");
    const config = parseRunArgs(args);
    expect(config.stateDir).toBe("/var/lib/parca-agent-sidecar");
    expect(config.listen).toBe("unix:/run/parca-agent-sidecar/api.sock");
  });
});

describe("Juju hooks", () => {
  async function fakeTools(dir: string) {
    const bin = join(dir, "bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(bin));
    await writeFile(
      join(bin, "relation-get"),
      `#!/bin/sh\necho "$@" > "${dir}/relation-get.args"\nprintf '%s' '{"remote-store-address":"10.0.0.5:7070","remote-store-insecure":"true"}'\n`,
    );
    await writeFile(join(bin, "snap"), `#!/bin/sh\necho "$@" >> "${dir}/snap.log"\n`);
    await chmod(join(bin, "relation-get"), 0o755);
    await chmod(join(bin, "snap"), 0o755);
    return { PATH: `${bin}:${process.env.PATH}` };
  }

  it("relation-changed writes the databag atomically 0600; departed keeps it; broken removes it", async () => {
    const dir = await tempDir();
    const target = join(dir, "relation", "parca-store.json");
    const env = {
      ...(await fakeTools(dir)),
      PARCA_SIDECAR_RELATION_FILE: target,
      JUJU_REMOTE_APP: "parca",
    };
    const hook = deploy("juju", "parca-store-endpoint-relation-changed");
    await run(hook, [], {
      env: { ...env, JUJU_HOOK_NAME: "parca-store-endpoint-relation-changed" },
    });
    expect(JSON.parse(await readFile(target, "utf8"))).toEqual({
      "remote-store-address": "10.0.0.5:7070",
      "remote-store-insecure": "true",
    });
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect((await readFile(join(dir, "relation-get.args"), "utf8")).trim()).toBe(
      "--app --format=json - parca",
    );
    await run(hook, [], {
      env: { ...env, JUJU_HOOK_NAME: "parca-store-endpoint-relation-departed" },
    });
    expect(statSync(target).isFile()).toBe(true);
    await run(hook, [], {
      env: { ...env, JUJU_HOOK_NAME: "parca-store-endpoint-relation-broken" },
    });
    expect(() => statSync(target)).toThrow();
  });

  it("snap-restart sets the snap's options from the sidecar's environment and restarts it", async () => {
    const dir = await tempDir();
    const env = {
      ...(await fakeTools(dir)),
      PARCA_STORE_ADDRESS: "p:443",
      PARCA_STORE_INSECURE: "false",
      PARCA_STORE_BEARER_TOKEN: "t",
    };
    await run(deploy("juju", "snap-restart"), [], { env });
    expect((await readFile(join(dir, "snap.log"), "utf8")).trim().split("\n")).toEqual([
      "set parca-agent remote-store-address=p:443 remote-store-insecure=false remote-store-bearer-token=t",
      "restart parca-agent",
    ]);
  });
});
