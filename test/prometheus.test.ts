// The fleet view: alert rules (plain and as a PrometheusRule) checked and unit-tested with
// promtool, the sidecar's metrics linted by promtool, and the Grafana dashboard's queries parsed by
// promtool and written only against metrics the sidecar exports.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { Metrics } from "../src/api/metrics.js";
import { ROOT } from "./support/root.js";
import { tempDir } from "./support/tmp.js";

const path = (...parts: string[]) => join(ROOT, ...parts);
const RULES = path("deploy", "prometheus", "parca-agent-sidecar.rules.yaml");
const OPERATOR = path("deploy", "prometheus", "parca-agent-sidecar.prometheusrule.yaml");
const DASHBOARD = path("deploy", "grafana", "parca-agent-sidecar-fleet.json");

/** promtool's verdict: exit code and everything it printed. */
async function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const child = execFile("promtool", args);
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  child.stdin?.end(stdin ?? "");
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
  return { code, out };
}

/** The sidecar's metrics as it serves them, from its own registry. */
async function exported(): Promise<string> {
  const metrics = new Metrics({
    agent: () => ({ state: "RUNNING", pid: 1, restarts: 0, running: true, args: [] }),
    delivery: () => undefined,
    phase: () => "RUNNING",
    diagnosis: () => "OK",
    heldSeconds: () => 0,
    info: { node: "n1", mode: "supervise", version: "0.1.0" },
  });
  return metrics.registry.metrics();
}

/** Metric names a PromQL expression uses (identifiers followed by { or a range/space). */
function metricNames(expr: string): string[] {
  const names = expr.match(/\b(parca_agent_sidecar_[a-z_]+|up)\b/g) ?? [];
  return [...new Set(names)];
}

describe("alert rules", () => {
  const rules = parse(readFileSync(RULES, "utf8"));
  const alerts: { alert: string; expr: string }[] = rules.groups.flatMap(
    (g: { rules: unknown[] }) => g.rules,
  );

  it("pass promtool check rules, and cover the fleet's failures", async () => {
    const { code, out } = await promtool(["check", "rules", RULES]);
    expect({ code, out }).toMatchObject({
      code: 0,
      out: expect.stringContaining("SUCCESS: 6 rules found"),
    });
    expect(alerts.map((a) => a.alert)).toEqual([
      "ParcaAgentSidecarDown",
      "ParcaAgentNotDelivering",
      "ParcaStoreCheckFailing",
      "ParcaAgentCrashLooping",
      "ParcaAgentConfigRolledBack",
      "ParcaDesiredConfigHeld",
    ]);
  });

  it("the PrometheusRule carries the same groups", () => {
    const doc = parse(readFileSync(OPERATOR, "utf8"));
    expect(doc).toMatchObject({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata: { name: "parca-agent-sidecar", namespace: "parca" },
    });
    expect(Object.keys(doc.spec)).toEqual(["groups"]);
    expect(doc.spec.groups).toEqual(rules.groups);
  });

  it("pass their promtool unit tests; a changed threshold fails them", async () => {
    const tests = path("test", "prometheus", "alerts.test.yaml");
    const ok = await promtool(["test", "rules", tests]);
    expect(ok).toMatchObject({ code: 0, out: expect.stringContaining("SUCCESS") });
    // The same tests against rules whose crash-loop threshold is 30: they must fail.
    const dir = await tempDir();
    await writeFile(
      join(dir, "rules.yaml"),
      readFileSync(RULES, "utf8").replace(">= 3)", ">= 30)"),
    );
    const mutated = parse(readFileSync(tests, "utf8"));
    mutated.rule_files = [join(dir, "rules.yaml")];
    await writeFile(join(dir, "tests.yaml"), stringify(mutated));
    const failed = await promtool(["test", "rules", join(dir, "tests.yaml")]);
    expect(failed.code).not.toBe(0);
    expect(failed.out).toContain("ParcaAgentCrashLooping");
  });

  it("use only metrics the sidecar exports (and Prometheus's up)", async () => {
    const text = await exported();
    for (const { alert, expr } of alerts)
      for (const name of metricNames(expr))
        expect({
          alert,
          name,
          exported: name === "up" || text.includes(`\n${name}`),
        }).toMatchObject({ exported: true });
  });
});

describe("the sidecar's metrics", () => {
  it("pass promtool check metrics, and no gauge ends in _total", async () => {
    const text = await exported();
    const lint = await promtool(["check", "metrics"], text);
    expect(lint).toEqual({ code: 0, out: "" });
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1] as string);
    expect(gauges.filter((g) => g.endsWith("_total"))).toEqual([]);
    for (const name of [
      "parca_agent_sidecar_phase",
      "parca_agent_sidecar_diagnosis",
      "parca_agent_sidecar_desired_held_seconds",
      "parca_agent_sidecar_delivery_state",
      "parca_agent_sidecar_info",
    ])
      expect(gauges).toContain(name);
    expect(text).toContain(
      'parca_agent_sidecar_info{node="n1",mode="supervise",version="0.1.0"} 1',
    );
  });
});

describe("Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8"));
  const targets: { refId: string; expr: string }[] = dashboard.panels.flatMap(
    (p: { targets?: unknown[] }) => p.targets ?? [],
  );

  it("has a fleet table of node, phase, diagnosis and delivery", () => {
    const fleet = dashboard.panels.find((p: { title: string }) => p.title === "Fleet");
    expect(fleet.type).toBe("table");
    const exprs = fleet.targets.map((t: { expr: string }) => t.expr).join("\n");
    for (const name of [
      "parca_agent_sidecar_phase",
      "parca_agent_sidecar_diagnosis",
      "parca_agent_sidecar_delivery_state",
    ])
      expect(exprs).toContain(name);
    expect(exprs).toContain("by (node,");
  });

  it("every query parses with promtool and uses only metrics the sidecar exports", async () => {
    expect(targets.length).toBeGreaterThanOrEqual(8);
    // Grafana's variables, as Grafana would fill them in.
    const promql = (expr: string) =>
      expr.replaceAll("$node", ".*").replaceAll("$__rate_interval", "5m");
    const group = {
      name: "dashboard",
      rules: targets.map((t, i) => ({ record: `dashboard:query_${i}`, expr: promql(t.expr) })),
    };
    const dir = await tempDir();
    await writeFile(join(dir, "queries.yaml"), stringify({ groups: [group] }));
    const checked = await promtool(["check", "rules", join(dir, "queries.yaml")]);
    expect(checked).toMatchObject({
      code: 0,
      out: expect.stringContaining(`SUCCESS: ${targets.length} rules found`),
    });
    const text = await exported();
    for (const t of targets)
      for (const name of metricNames(t.expr))
        expect({ name, exported: name === "up" || text.includes(`\n${name}`) }).toMatchObject({
          exported: true,
        });
    // The check can fail: a query that does not parse is refused.
    await writeFile(
      join(dir, "broken.yaml"),
      stringify({ groups: [{ name: "x", rules: [{ record: "x:y", expr: "sum by (node (up)" }] }] }),
    );
    expect((await promtool(["check", "rules", join(dir, "broken.yaml")])).code).not.toBe(0);
  });
});
