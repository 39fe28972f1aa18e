import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Options, parseCommandLine } from "../src/cli/options.js";
import { runConfig } from "../src/cli/run-config.js";
import { manifestProblems } from "./support/k8s.js";
import { ROOT } from "./support/root.js";
import { tempDir } from "./support/tmp.js";

const run = promisify(execFile);
const deploy = (...parts: string[]) => join(ROOT, "deploy", ...parts);

/** The sidecar's own options must parse exactly as `run` would parse them. */
function parseRunArgs(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runConfig(new Options(parseCommandLine("run", args, env)), false);
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

/** Every document of a manifest under deploy/kubernetes, parsed. */
function manifest(name: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(deploy("kubernetes", name), "utf8")).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS();
  });
}

describe("manifests against the Kubernetes schema", () => {
  for (const name of [
    "parca-agent.yaml",
    "parca-agent-sidecar-container.yaml",
    "parca-agent-relay.yaml",
  ]) {
    it(`${name}: every document valid, no unknown field, nothing the API server refuses`, () => {
      const docs = manifest(name);
      expect(docs.length).toBeGreaterThanOrEqual(3);
      for (const doc of docs)
        expect({ kind: doc.kind, problems: manifestProblems(doc) }).toEqual({
          kind: doc.kind,
          problems: [],
        });
    });
  }

  it("the checks can fail: a wrong type, an unknown field, hostPID with shareProcessNamespace", () => {
    const ds = manifest("parca-agent-sidecar-container.yaml").find(
      (d) => d.kind === "DaemonSet",
    ) as {
      spec: {
        template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
      };
    };
    const broken = structuredClone(ds);
    const pod = broken.spec.template.spec;
    (pod.containers[0] as Record<string, unknown>).imagePullPolcy = "Always";
    (pod.containers[0] as Record<string, unknown>).stdin = "yes";
    pod.shareProcessNamespace = true;
    const problems = manifestProblems(broken as unknown as Record<string, unknown>);
    expect(problems).toEqual(["/spec/template/spec/containers/0/stdin: must be boolean"]);
    delete (pod.containers[0] as Record<string, unknown>).stdin;
    expect(manifestProblems(broken as unknown as Record<string, unknown>)).toEqual([
      "/spec/template/spec/containers/0/imagePullPolcy: unknown field",
      "ShareProcessNamespace and HostPID cannot both be enabled",
    ]);
  });
});

describe("Kubernetes manifest, the sidecar beside the official agent image", () => {
  const docs = manifest("parca-agent-sidecar-container.yaml");
  // biome-ignore lint/suspicious/noExplicitAny: a parsed manifest, read field by field below
  const ds = docs.find((d) => d.kind === "DaemonSet") as { spec: { template: { spec: any } } };
  const pod = ds.spec.template.spec;
  const sidecar = pod.initContainers[0];
  const agent = pod.containers[0];
  const config = parseRunArgs(sidecar.args);

  it("runs the sidecar as a native sidecar that finds this pod's agent by name, file and pod UID", () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.shareProcessNamespace).toBeUndefined();
    expect(sidecar.restartPolicy).toBe("Always");
    expect(config).toMatchObject({
      mode: "external",
      flagsFormat: "yaml",
      onRemove: "keep",
      tokenMode: "flag",
      agentLocation: { kind: "process", spec: { name: "parca-agent" } },
    });
    expect(sidecar.env).toContainEqual({
      name: "POD_UID",
      valueFrom: { fieldRef: { fieldPath: "metadata.uid" } },
    });
    expect(sidecar.securityContext.capabilities).toEqual({ drop: ["ALL"], add: ["KILL"] });
    expect(sidecar.securityContext.runAsUser).toBe(0);
  });

  it("gates the agent container on the startup probe, with room to wait for the relation", () => {
    expect(sidecar.startupProbe.grpc).toEqual({ port: 7073, service: "startup" });
    expect(
      sidecar.startupProbe.periodSeconds * sidecar.startupProbe.failureThreshold,
    ).toBeGreaterThanOrEqual(3600);
    expect(sidecar.readinessProbe.grpc.service).toBe("readiness");
    expect(sidecar.livenessProbe.grpc.service).toBe("liveness");
    expect(config.healthListen).toBe("0.0.0.0:7073");
  });

  it("the official agent image reads the sidecar's file through a shared emptyDir, with no store flags of its own", () => {
    expect(agent.image).toMatch(/^ghcr\.io\/parca-dev\/parca-agent:/);
    expect(agent.command).toBeUndefined();
    expect(agent.args).toContain(`--config-path=${config.flagsFile}`);
    expect(agent.args.filter((a: string) => a.startsWith("--remote-store"))).toEqual([]);
    const dir = (config.flagsFile as string).replace(/\/[^/]+$/, "");
    const shared = (c: { volumeMounts: { name: string; mountPath: string }[] }) =>
      c.volumeMounts.find((m) => m.mountPath === dir)?.name;
    expect(shared(sidecar)).toBe(shared(agent));
    expect(
      pod.volumes.find((v: { name: string }) => v.name === shared(agent)).emptyDir,
    ).toBeDefined();
    const store = sidecar.volumeMounts.find(
      (m: { mountPath: string }) => m.mountPath === config.relations[0],
    );
    expect(store.subPath).toBeUndefined();
    expect(pod.volumes.find((v: { name: string }) => v.name === store.name).secret.secretName).toBe(
      "parca-store",
    );
    expect(config.agentConfigBase).toBeDefined();
  });
});

/** The relay's unix socket path a parsed config names. */
function socketOf(config: ReturnType<typeof parseRunArgs>): string {
  const address = config.relay?.address;
  if (address === undefined || !("path" in address)) throw new Error("no unix socket relay");
  return address.path;
}

describe("Kubernetes manifests, the relay variants", () => {
  // biome-ignore lint/suspicious/noExplicitAny: a parsed manifest, read field by field below
  type Pod = any;
  const podOf = (name: string): Pod =>
    (manifest(name).find((d) => d.kind === "DaemonSet") as Pod).spec.template.spec;
  /** The volume mounted at `dir` (or a parent of it) in container `c`. */
  const volumeAt = (pod: Pod, c: Pod, dir: string) => {
    const mount = c.volumeMounts.find(
      (m: { mountPath: string }) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`),
    );
    return pod.volumes.find((v: { name: string }) => v.name === mount?.name);
  };

  it("beside the official agent image: the agent's flags fixed at the relay's socket in a pod-private emptyDir; the sidecar needs no capability and never restarts a container", () => {
    const pod = podOf("parca-agent-relay.yaml");
    const sidecar = pod.initContainers[0];
    const agent = pod.containers[0];
    const config = parseRunArgs(sidecar.args);
    expect(config).toMatchObject({ mode: "external", onRemove: "stop" });
    expect(config.flagsFile).toBeUndefined();
    expect(config.agentLocation).toBeUndefined();
    const socket = socketOf(config);
    expect(agent.args).toContain(`--remote-store-address=unix://${socket}`);
    expect(agent.args).toContain("--remote-store-insecure");
    expect(agent.args.filter((a: string) => a.includes("token"))).toEqual([]);
    const dir = socket.replace(/\/[^/]+$/, "");
    expect(volumeAt(pod, sidecar, dir).emptyDir).toBeDefined();
    expect(volumeAt(pod, agent, dir)).toBe(volumeAt(pod, sidecar, dir));
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.securityContext.capabilities).toEqual({ drop: ["ALL"] });
    expect(sidecar.env.map((e: { name: string }) => e.name)).not.toContain("POD_UID");
    expect(sidecar.startupProbe.grpc).toEqual({ port: 7073, service: "startup" });
  });

  it("the one-container image: its commented --relay line parses, its socket in the pod's own /tmp", () => {
    const pod = podOf("parca-agent.yaml");
    const container = pod.containers[0];
    const text = readFileSync(deploy("kubernetes", "parca-agent.yaml"), "utf8");
    const line = /# - (--relay=\S+)/.exec(text)?.[1] as string;
    const args = [...container.args];
    args.splice(args.indexOf("--"), 0, line);
    const config = parseRunArgs(args);
    expect(config.mode).toBe("supervise");
    const socket = socketOf(config);
    expect(volumeAt(pod, container, socket.replace(/\/[^/]+$/, "")).emptyDir).toBeDefined();
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

  it("passes systemd-analyze verify (the check fails on a bad setting)", async () => {
    const dir = await tempDir();
    const stub = join(dir, "parca-agent-sidecar");
    await writeFile(stub, "#!/bin/sh\n");
    await chmod(stub, 0o755);
    const verify = async (unit: string) => {
      const path = join(dir, "parca-agent-sidecar.service");
      // The binary is not installed here: the unit points at a stub, nothing else changes.
      await writeFile(path, unit.replace("/usr/bin/parca-agent-sidecar", stub));
      const out = await run("systemd-analyze", ["verify", "--man=no", path]).then(
        (r) => `${r.stdout}${r.stderr}`,
        (err: { stdout: string; stderr: string }) => `${err.stdout}${err.stderr}` || "failed",
      );
      return out.trim();
    };
    expect(await verify(text)).toBe("");
    expect(await verify(text.replace("KillMode=mixed", "KillMode=gently"))).toContain(
      "Failed to parse kill mode",
    );
  });

  /** The unit's Environment= lines, as systemd reads them (quotes around a whole assignment). */
  const environment = (unit: string) =>
    Object.fromEntries(
      [...unit.matchAll(/^Environment=(?:"([^"]*)"|(\S*))$/gm)].map((m) => {
        const [name, ...value] = (m[1] ?? m[2] ?? "").split("=");
        return [name as string, value.join("=")];
      }),
    );
  /** A defaults file's uncommented (or, given `uncomment`, commented) assignments. */
  const assignments = (text: string, uncomment: RegExp) =>
    Object.fromEntries(
      text
        .split("\n")
        .map((line) => line.replace(uncomment, ""))
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  const defaults = readFileSync(deploy("debian", "parca-agent-sidecar.default"), "utf8");

  it("starts `run` with options that parse, from the unit's environment", () => {
    const [binary, command, ...args] = (settings.get("ExecStart") ?? "").split(/\s+/);
    expect(binary).toBe("/usr/bin/parca-agent-sidecar");
    expect(command).toBe("run");
    expect(args).toEqual(["--", "$PARCA_AGENT_ARGS"]);
    expect(settings.get("EnvironmentFile")).toBe("-/etc/default/parca-agent-sidecar");
    const env = environment(text);
    const config = parseRunArgs(["--", ...(env.PARCA_AGENT_ARGS ?? "").split(" ")], env);
    expect(config.mode).toBe("supervise");
    expect(config.agentPath).toBe("/usr/bin/parca-agent");
    expect(config.relations).toEqual(["/var/lib/parca-agent-sidecar/relation/parca-store.json"]);
    expect(config.stateDir).toBe("/var/lib/parca-agent-sidecar");
    expect(config.listen).toBe("unix:/run/parca-agent-sidecar/api.sock");
    expect(config.baseArgs).toEqual(["--node=%H", "--http-address=127.0.0.1:7071"]);
  });

  it("the defaults file sets nothing until edited, and its external-mode block parses", () => {
    expect(assignments(defaults, /^$/)).toEqual({});
    const all = assignments(defaults, /^#/);
    expect(Object.keys(all).every((k) => k.startsWith("PARCA_"))).toBe(true);
    const external = Object.fromEntries(
      defaults
        .slice(defaults.indexOf("#PARCA_SIDECAR_MODE=external"))
        .split("\n\n")[0]
        ?.split("\n")
        .map((l) => l.replace(/^#/, "").split("=") as [string, string]) ?? [],
    );
    expect(Object.keys(external)).toHaveLength(5);
    const config = parseRunArgs([], { ...environment(text), ...external });
    expect(config.mode).toBe("external");
    expect(config.restartCommand).toEqual(["/usr/share/parca-agent-sidecar/snap-restart"]);
  });

  it("the defaults file's relay line parses, its socket in the unit's runtime directory", () => {
    const relay = /^#(PARCA_SIDECAR_RELAY)=(.*)$/m.exec(defaults);
    const config = parseRunArgs([], { ...environment(text), PARCA_SIDECAR_RELAY: relay?.[2] });
    expect(config.mode).toBe("supervise");
    expect(socketOf(config)).toBe(`/run/${settings.get("RuntimeDirectory")}/relay.sock`);
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
