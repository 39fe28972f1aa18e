import { describe, expect, it } from "vitest";
import { parseWriteCounts } from "../../src/delivery/counts.js";
import { metricsUrlFromArgs } from "../../src/delivery/scrape.js";
import { DeliveryTracker } from "../../src/delivery/tracker.js";

const modern = (ok: number, failed = 0, code = "Unauthenticated") =>
  [
    "# TYPE parca_agent_write_requests_total counter",
    `parca_agent_write_requests_total{code="OK"} ${ok}`,
    ...(failed ? [`parca_agent_write_requests_total{code="${code}"} ${failed}`] : []),
    'go_gc_duration_seconds{quantile="0.5"} 1e-05',
  ].join("\n");

describe("the agent's write counters", () => {
  it("reads parca_agent_write_requests_total by code", () => {
    const counts = parseWriteCounts(modern(12, 3, "ResourceExhausted"));
    expect(counts).toMatchObject({ ok: 12, failed: 3 });
    expect([...(counts?.failures ?? [])]).toEqual([["ResourceExhausted", 3]]);
  });

  it("falls back to grpc_client_handled_total of the store's Write for older agents", () => {
    const text = [
      'grpc_client_handled_total{grpc_code="OK",grpc_method="Write",grpc_service="parca.profilestore.v1alpha1.ProfileStoreService",grpc_type="bidi_stream"} 4',
      'grpc_client_handled_total{grpc_code="Unavailable",grpc_method="Write",grpc_service="parca.profilestore.v1alpha1.ProfileStoreService",grpc_type="bidi_stream"} 1',
      'grpc_client_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 9',
    ].join("\n");
    expect(parseWriteCounts(text)).toMatchObject({ ok: 4, failed: 1 });
  });

  it("is undefined when the agent exports neither (yet)", () => {
    expect(parseWriteCounts("go_goroutines 12\nprocess_cpu_seconds_total 3.2")).toBeUndefined();
  });

  it("finds the agent's metrics from its --http-address, wildcards meaning loopback", () => {
    expect(metricsUrlFromArgs(["--node=a"])).toBe("http://127.0.0.1:7071/metrics");
    expect(metricsUrlFromArgs(["--http-address=:9090"])).toBe("http://127.0.0.1:9090/metrics");
    expect(metricsUrlFromArgs(["--http-address", "0.0.0.0:7071"])).toBe(
      "http://127.0.0.1:7071/metrics",
    );
    expect(metricsUrlFromArgs(["--http-address=[::]:7071"])).toBe("http://127.0.0.1:7071/metrics");
    expect(metricsUrlFromArgs(["--http-address=10.0.0.1:1", "--http-address=127.0.0.2:2"])).toBe(
      "http://127.0.0.2:2/metrics",
    );
  });
});

describe("the delivery state", () => {
  const M = 60_000;
  it("UNKNOWN when nothing is expected or seen; WAITING once expected or answering", () => {
    expect(new DeliveryTracker(false).state(0)).toBe("UNKNOWN");
    expect(new DeliveryTracker(true).state(0)).toBe("WAITING");
    const t = new DeliveryTracker(false);
    t.record(0, true, undefined);
    expect(t.state(0)).toBe("WAITING");
  });

  it("DELIVERING while OK rose in the last 5 minutes; FAILING when failures rose and OK did not in 2", () => {
    const t = new DeliveryTracker(true);
    t.record(0, true, parseWriteCounts(modern(5)));
    expect(t.state(0)).toBe("DELIVERING");
    expect(t.proven).toBe(true);
    t.record(1 * M, true, parseWriteCounts(modern(5, 2)));
    expect(t.state(1 * M)).toBe("DELIVERING");
    expect(t.state(5 * M + 1)).toBe("WAITING");
    t.record(6 * M, true, parseWriteCounts(modern(5, 9)));
    expect(t.state(6 * M)).toBe("FAILING");
    expect(t.lastFailureCode).toBe("Unauthenticated");
    expect(t.state(8 * M + 1)).toBe("WAITING");
    t.record(9 * M, true, parseWriteCounts(modern(6, 9)));
    expect(t.state(9 * M)).toBe("DELIVERING");
  });
});
