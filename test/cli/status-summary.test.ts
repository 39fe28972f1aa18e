// The human summary of `status`: what it keeps and drops.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { duration, summary } from "../../src/cli/status.js";
import {
  AgentSchema,
  CheckResultSchema,
  ExitSchema,
  Phase,
  StatusSchema,
  StoreConfigSchema,
} from "../../src/gen/parca/sidecar/v1/sidecar_pb.js";

const now = new Date("2026-11-25T12:00:00Z");
const ago = (ms: number) => timestampFromDate(new Date(now.getTime() - ms));
const store = (address: string) => create(StoreConfigSchema, { address, insecure: true });
const okCheck = (address: string) =>
  create(CheckResultSchema, { ok: true, address, insecure: true });

describe("status summary", () => {
  it("drops a check that is not about the desired config (invalid input: no desired config)", () => {
    const s = create(StatusSchema, {
      phase: Phase.INVALID_INPUT,
      applied: store("10.0.0.5:7070"),
      lastCheck: okCheck("10.0.0.5:7070"),
    });
    expect(summary(s, now)).toMatch(/^check: {4}none for the desired config$/m);
    const changed = create(StatusSchema, {
      phase: Phase.CHECKING,
      desired: store("10.0.0.6:7070"),
      lastCheck: okCheck("10.0.0.5:7070"),
    });
    expect(summary(changed, now)).toMatch(/^check: {4}none for the desired config$/m);
    const same = create(StatusSchema, {
      desired: store("10.0.0.5:7070"),
      lastCheck: okCheck("10.0.0.5:7070"),
    });
    expect(summary(same, now)).toMatch(/^check: {4}ok in /m);
  });

  it("tells a crash from a planned stop, and shows the phase's age, readiness, pause and uptime", () => {
    const s = create(StatusSchema, {
      phase: Phase.DEGRADED,
      phaseSince: ago(125_000),
      ready: false,
      paused: true,
      version: "1.2.3",
      sidecarStartedAt: ago(3 * 3_600_000 + 4 * 60_000),
      agent: create(AgentSchema, {
        restarts: 3,
        crashes: 1,
        lastExit: create(ExitSchema, { code: 2, stderrTail: ["panic: boom"] }),
      }),
    });
    const text = summary(s, now);
    expect(text).toMatch(/^phase: {4}DEGRADED for 2m 5s — PAUSED$/m);
    expect(text).toMatch(/^ready: {4}no$/m);
    expect(text).toContain("3 restarts (1 crash)");
    expect(text).toMatch(/^last exit: code 2: panic: boom$/m);
    expect(text).toMatch(/^sidecar: {2}1\.2\.3, up 3h 4m$/m);
  });

  it("durations keep their two largest units", () => {
    expect(duration(0)).toBe("0s");
    expect(duration(59_999)).toBe("59s");
    expect(duration(90_061_000)).toBe("1d 1h");
    expect(duration(3_600_000)).toBe("1h 0m");
  });
});
