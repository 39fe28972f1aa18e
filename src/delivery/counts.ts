/** The agent's write counters, as its /metrics gave them (since that agent process started). */
export interface WriteCounts {
  readonly ok: number;
  readonly failed: number;
  /** Failed writes by Go's code name ("Unauthenticated", "ResourceExhausted" …). */
  readonly failures: ReadonlyMap<string, number>;
}

const STORE_SERVICE = "parca.profilestore.v1alpha1.ProfileStoreService";

function labels(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
    out.set(m[1] as string, m[2] as string);
  return out;
}

/**
 * The write counters in Prometheus text: `parca_agent_write_requests_total{code}` (agents from
 * v0.48), else `grpc_client_handled_total` of ProfileStoreService Write/WriteArrow by
 * `grpc_code` (older agents; a Write stream counts when it ends). Undefined when the agent
 * exports neither (yet: both appear with the first write attempt).
 */
export function parseWriteCounts(text: string): WriteCounts | undefined {
  const modern = new Map<string, number>();
  const legacy = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const l = labels(m[2] as string);
    if (m[1] === "parca_agent_write_requests_total") {
      const code = l.get("code") ?? "Unknown";
      modern.set(code, (modern.get(code) ?? 0) + value);
    } else if (
      m[1] === "grpc_client_handled_total" &&
      l.get("grpc_service") === STORE_SERVICE &&
      (l.get("grpc_method") === "Write" || l.get("grpc_method") === "WriteArrow")
    ) {
      const code = l.get("grpc_code") ?? "Unknown";
      legacy.set(code, (legacy.get(code) ?? 0) + value);
    }
  }
  const byCode = modern.size > 0 ? modern : legacy;
  if (byCode.size === 0) return undefined;
  const failures = new Map([...byCode].filter(([code]) => code !== "OK"));
  let failed = 0;
  for (const n of failures.values()) failed += n;
  return { ok: byCode.get("OK") ?? 0, failed, failures };
}
