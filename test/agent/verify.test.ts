import { describe, expect, it } from "vitest";
import { driftedFlags, managedFlagsOn } from "../../src/agent/verify.js";
import { runCli } from "../support/cli.js";

const rendered = [
  "--node=n1",
  "--remote-store-address=a:1",
  "--remote-store-insecure=true",
  "--remote-store-bearer-token=secret-token",
];

describe("what runs against what was rendered", () => {
  it("the same effective flags in any form, an interpreter and the worker flag do not matter", () => {
    const running = [
      "/usr/bin/node",
      "/opt/agent.mjs",
      "--remote-store-address",
      "old:1",
      "--node=n1",
      "--remote-store-address=a:1",
      "--remote-store-insecure",
      "--remote-store-bearer-token",
      "secret-token",
      "--telemetry-disable-panic-reporting",
    ];
    expect(driftedFlags(running, rendered)).toEqual([]);
  });

  it("names the flags that differ, the token compared but never shown", () => {
    const running = [
      "parca-agent",
      "--remote-store-address=b:1",
      "--remote-store-insecure=false",
      "--remote-store-bearer-token=other",
    ];
    const drift = driftedFlags(running, rendered);
    expect(drift).toEqual([
      "--remote-store-address",
      "--remote-store-insecure",
      "--remote-store-bearer-token",
    ]);
    expect(JSON.stringify(drift)).not.toContain("secret-token");
  });

  it("a flag missing from what runs, or one it adds, is drift", () => {
    expect(
      driftedFlags(
        ["parca-agent", "--remote-store-address=a:1", "--remote-store-insecure=true"],
        rendered,
      ),
    ).toEqual(["--remote-store-bearer-token"]);
    expect(driftedFlags([...rendered, "--remote-store-bearer-token-file=/t"], rendered)).toEqual([
      "--remote-store-bearer-token-file",
    ]);
  });

  it("a YAML flag file's agent must carry no managed flag on its command line", () => {
    expect(managedFlagsOn(["parca-agent", "--config-path=/f.yaml", "--node=n"])).toEqual([]);
    expect(managedFlagsOn(["parca-agent", "--remote-store-address", "x:1"])).toEqual([
      "--remote-store-address",
    ]);
  });

  it("--agent-pidfile and --agent-unit: external mode only, one of them, a valid unit name", async () => {
    const base = ["run", "--relation", "/nonexistent/r.json"];
    const supervise = await runCli([...base, "--agent-unit", "parca-agent"]);
    expect(supervise.code).toBe(2);
    expect(supervise.stderr).toContain("--mode external");
    const ext = [...base, "--mode", "external", "--flags-file", "/tmp/f", "--on-remove", "keep"];
    const both = await runCli([...ext, "--agent-unit", "a", "--agent-pidfile", "/p"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(
      "give only one of --agent-pidfile, --agent-unit and --agent-process",
    );
    const bad = await runCli([...ext, "--agent-unit", "a b;rm"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("not a systemd unit name");
  });
});
