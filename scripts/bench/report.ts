// The bench's verdict: targets (docs/performance.md), a table, one JSON.
import { cpus } from "node:os";
import type { AgentVersion } from "../../test/support/real-agent.js";
import type { measureChecks } from "./checks.js";
import { PROFILING_PERIOD_MS, type ProfilingResult } from "./profiling.js";
import type { RelayCost } from "./relay.js";
import type { measureBurst, measureIdle, measureSoak } from "./sidecar-runs.js";
import type { StartupResult } from "./startup.js";
import { type Percentiles, ratio } from "./stats.js";
import type { measureSteadyState } from "./steady.js";
import type { WrapperResult } from "./wrapper.js";

export interface Measured {
  readonly quick: boolean;
  /** The real agent's section left out on purpose (--without-real-agent). */
  readonly withoutRealAgent: boolean;
  readonly debounceMs: number;
  readonly reaction: Percentiles;
  /** The inotifywait loop reading the values with grep and cut: the peer of the target. */
  readonly diy: Percentiles;
  /** The same loop reading them with bash alone: for reference. */
  readonly diyLean: Percentiles;
  /** The grep loop with the sidecar's quiet period: the like-for-like peer. */
  readonly diyQuiet: Percentiles;
  /** The sidecar at its default --debounce-ms (200). */
  readonly reactionDefault: Percentiles;
  readonly nodeQuiet: Percentiles;
  readonly nodeImmediate: Percentiles;
  readonly burst: Awaited<ReturnType<typeof measureBurst>>;
  readonly idle: Awaited<ReturnType<typeof measureIdle>>;
  readonly soak: Awaited<ReturnType<typeof measureSoak>>;
  readonly checks: Awaited<ReturnType<typeof measureChecks>>;
  readonly steady: Awaited<ReturnType<typeof measureSteadyState>>;
  /** Per agent release: each is a target, and one not measured is a failure. */
  readonly profiling: Partial<Record<AgentVersion, ProfilingResult>>;
  readonly wrapper: WrapperResult;
  /** `node dist/cli.js` and the single-file binary; not measured (no binary) is a failure. */
  readonly startup: StartupResult;
  /** A write's added latency through the relay, and its CPU per MB. */
  readonly relayCost: RelayCost;
}

/** Time to profiling's targets for each release: one that could not be measured fails. */
function profilingTargets(all: Measured["profiling"]): Record<string, boolean> {
  const targets: Record<string, boolean> = {};
  for (const [version, p] of Object.entries(all)) {
    const measured = !("missing" in p);
    targets[`${version}_measured`] = measured;
    if (!measured) continue;
    targets[`${version}_time_to_profiling_le_1_5x_baseline`] = p.time_to_profiling_ratio <= 1.5;
    targets[`${version}_gap_le_baseline_plus_one_period`] =
      p.gap_ms.p50 <= p.baseline_ms.p50 + PROFILING_PERIOD_MS;
    targets[`${version}_crash_on_documented_backoff`] = p.crash_on_schedule;
    targets[`${version}_relay_no_restart`] = p.relay.restarts === 0 && p.relay.pid_unchanged;
    targets[`${version}_relay_gap_le_one_period`] = p.relay.gap_ms.p50 <= PROFILING_PERIOD_MS;
    // The goal behind the relay: the agent's next write lands in the new store.
    targets[`${version}_relay_next_write_in_new_store`] =
      p.relay.time_to_profiling_ms.p50 <= PROFILING_PERIOD_MS + 1000;
  }
  return targets;
}

/** Prints the table on stdout, then the JSON line; true when every target is met. */
export function report(m: Measured): boolean {
  const ratioDiy = ratio(m.reaction.p50, m.diy.p50);
  const ratioQuiet = ratio(m.reaction.p50, m.diyQuiet.p50);
  const targets = {
    reaction_p50_le_2_5x_diy_loop: ratioDiy <= 2.5,
    reaction_p50_le_2_5x_diy_loop_same_quiet: ratioQuiet <= 2.5,
    reaction_p99_le_45ms: m.reaction.p99 <= 45,
    burst_one_restart_last_wins: m.burst.restarts === 1 && m.burst.last_content_won,
    idle_cpu_le_60ms: m.idle.cpu_ms <= 60,
    idle_rss_le_90mb: m.idle.rss_mb <= 90,
    soak_rss_growth_le_10mb: m.soak.rss_growth_mb <= 10,
    soak_no_fd_growth: m.soak.fd_growth <= 0,
    check_tls_p50_le_10ms: m.checks.tls.p50 <= 10,
    steady_state_no_store_calls: m.steady.per_node_per_hour === 0,
    wrapper_restart_p50_le_2x: m.wrapper.restart_ms.p50 <= 2 * m.reaction.p50,
    wrapper_crash_on_documented_backoff: m.wrapper.crash_on_schedule,
    ...profilingTargets(m.profiling),
    startup_measured: !("missing" in m.startup),
    relay_added_p50_le_2ms: m.relayCost.added_p50_ms <= 2,
    relay_cpu_le_20ms_per_mb: m.relayCost.cpu_ms_per_mb <= 20,
  };
  const result = {
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? "",
      node: process.version,
      quick: m.quick,
      without_real_agent: m.withoutRealAgent,
    },
    reaction_ms: { ...m.reaction, debounce_ms: m.debounceMs },
    diy_loop_ms: m.diy,
    ratio_p50: ratioDiy,
    diy_loop_quiet_ms: { ...m.diyQuiet, quiet_ms: m.debounceMs },
    ratio_p50_same_quiet: ratioQuiet,
    reaction_default_debounce_ms: { ...m.reactionDefault, debounce_ms: 200 },
    diy_loop_bash_read_ms: m.diyLean,
    ratio_p50_bash_read: ratio(m.reaction.p50, m.diyLean.p50),
    node_loop_ms: { ...m.nodeQuiet, quiet_ms: m.debounceMs },
    node_loop_no_quiet_ms: m.nodeImmediate,
    ratio_p50_node_loop: ratio(m.reaction.p50, m.nodeQuiet.p50),
    burst: m.burst,
    idle: m.idle,
    soak: m.soak,
    check_ms: m.checks,
    steady_state: m.steady,
    real_agent_profiling: m.profiling,
    wrapper: m.wrapper,
    startup: m.startup,
    relay_cost: m.relayCost,
    targets,
    ok: Object.values(targets).every(Boolean),
  };
  const row = (name: string, value: string, target: string, ok = true) =>
    console.log(
      `${name.padEnd(28)} ${value.padEnd(34)} ${target.padEnd(22)} ${ok ? "ok" : "MISSED"}`,
    );
  const p = (x: Percentiles) => `p50 ${x.p50} p99 ${x.p99} ms`;
  console.log(`${"measure".padEnd(28)} ${"value".padEnd(34)} ${"target".padEnd(22)}`);
  row("reaction (check incl.)", p(m.reaction), "p99 ≤ 45 ms", targets.reaction_p99_le_45ms);
  row("inotifywait loop (DIY)", p(m.diy), "");
  row("  … values read by bash", p(m.diyLean), "");
  row("ratio of p50s", `${ratioDiy}×`, "≤ 2.5×", targets.reaction_p50_le_2_5x_diy_loop);
  row(`inotifywait loop, ${m.debounceMs}ms quiet`, p(m.diyQuiet), "");
  row(
    "ratio of p50s, same quiet",
    `${ratioQuiet}×`,
    "≤ 2.5×",
    targets.reaction_p50_le_2_5x_diy_loop_same_quiet,
  );
  row("reaction, --debounce-ms 200", p(m.reactionDefault), "(the default)");
  row(`node loop, ${m.debounceMs} ms quiet`, p(m.nodeQuiet), "");
  row("node loop, no quiet", p(m.nodeImmediate), "");
  const burst = `${m.burst.restarts} restart(s), last won: ${m.burst.last_content_won}`;
  row("burst 1,000 writes/1 s", burst, "1, last wins", targets.burst_one_restart_last_wins);
  row(
    `idle CPU (${m.idle.window_s} s)`,
    `${m.idle.cpu_ms} ms`,
    "≤ 60 ms",
    targets.idle_cpu_le_60ms,
  );
  row("idle RSS", `${m.idle.rss_mb} MB`, "≤ 90 MB", targets.idle_rss_le_90mb);
  const growth = `+${m.soak.rss_growth_mb} MB`;
  row(`soak (${m.soak.cycles} cycles) RSS`, growth, "≤ 10 MB", targets.soak_rss_growth_le_10mb);
  const fds = `${m.soak.fd_growth >= 0 ? "+" : ""}${m.soak.fd_growth}`;
  row("soak open fds", fds, "0", targets.soak_no_fd_growth);
  const checks = `p50 ${m.checks.plaintext.p50} / ${m.checks.tls.p50} ms`;
  row("check plaintext / TLS", checks, "TLS p50 ≤ 10 ms", targets.check_tls_p50_le_10ms);
  const steady = `${m.steady.store_calls} in ${m.steady.window_s} s (${m.steady.per_node_per_hour}/node/h)`;
  row("store calls, delivering", steady, "0", targets.steady_state_no_store_calls);
  const wr = m.wrapper;
  const wrRatio = `${p(wr.restart_ms)} (${ratio(wr.restart_ms.p50, m.reaction.p50)}×)`;
  row("restart behind a wrapper", wrRatio, "p50 ≤ 2× the above", targets.wrapper_restart_p50_le_2x);
  const wrCrash = `${wr.crash_to_running_ms.join(", ")} ms`;
  row(
    "wrapper SIGKILLed → running",
    wrCrash,
    `${wr.backoff_ms.map((ms) => ms / 1000).join(", ")} s ±20% +0.1`,
    targets.wrapper_crash_on_documented_backoff,
  );
  if ("missing" in m.startup) {
    row("start-up", "NOT MEASURED", m.startup.missing.slice(0, 60), false);
  } else {
    const s = m.startup;
    const both = (a: Percentiles, b: Percentiles) => `p50 ${a.p50} / ${b.p50} ms`;
    row("exec → --version (node/bin)", both(s.node.version_ms, s.binary.version_ms), "(measured)");
    row("exec → SERVING (node/bin)", both(s.node.serving_ms, s.binary.serving_ms), "(measured)");
    for (const [file, mb] of Object.entries(s.sizes_mb)) {
      row(`  size ${file.replace("parca-agent-sidecar", "…")}`, `${mb} MB`, "");
    }
  }
  if (m.withoutRealAgent) row("time to profiling (real)", "LEFT OUT", "--without-real-agent");
  for (const [version, prof] of Object.entries(m.profiling)) {
    const t = (name: string) => (targets as Record<string, boolean>)[`${version}_${name}`] === true;
    if ("missing" in prof) {
      row(`${version}: time to profiling`, "NOT MEASURED", prof.missing.slice(0, 60), false);
      continue;
    }
    const pm = (x: Percentiles) => `p50 ${Math.round(x.p50)} max ${Math.round(x.max)} ms`;
    row(`${version}: alone → 1st profile`, pm(prof.baseline_ms), "(baseline)");
    const ttp = `${pm(prof.time_to_profiling_ms)} (${prof.time_to_profiling_ratio}×)`;
    row(
      `${version}: relation → profile`,
      ttp,
      "≤ 1.5× baseline",
      t("time_to_profiling_le_1_5x_baseline"),
    );
    const gap = `${pm(prof.gap_ms)} (${prof.gap_ratio}×)`;
    row(`${version}: profiling gap`, gap, "≤ baseline + 5 s", t("gap_le_baseline_plus_one_period"));
    const crash = `${prof.crash_to_running_ms.join(", ")} ms`;
    const schedule = `${prof.backoff_ms.map((ms) => ms / 1000).join(", ")} s ±20% +0.5`;
    row(`${version}: worker killed → run`, crash, schedule, t("crash_on_documented_backoff"));
    const r = prof.relay;
    row(
      `${version}: relay → profile`,
      pm(r.time_to_profiling_ms),
      "≤ 6 s (next write)",
      t("relay_next_write_in_new_store"),
    );
    row(`${version}: relay gap`, pm(r.gap_ms), "≤ 5 s (one period)", t("relay_gap_le_one_period"));
    const restarts = `${r.restarts} in ${r.changes} moves, same pid: ${r.pid_unchanged}`;
    row(`${version}: relay restarts`, restarts, "0", t("relay_no_restart"));
  }
  const rc = m.relayCost;
  row("relay: 64 KiB write direct", p(rc.direct_ms), "(baseline)");
  row("relay: 64 KiB write relayed", p(rc.relayed_ms), "");
  row(
    "relay: added latency p50",
    `${rc.added_p50_ms} ms`,
    "≤ 2 ms",
    targets.relay_added_p50_le_2ms,
  );
  const cpu = `${rc.cpu_ms_per_mb} ms (${rc.relayed_mb_per_s} MB/s, 4 at a time)`;
  row("relay: CPU per MB relayed", cpu, "≤ 20 ms", targets.relay_cpu_le_20ms_per_mb);
  console.log(JSON.stringify(result));
  return result.ok;
}
