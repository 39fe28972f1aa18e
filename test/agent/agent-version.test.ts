import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { learnAgentVersion } from "../../src/agent/agent-version.js";
import { STANDIN, waitFor } from "../support/procs.js";
import { ROOT } from "../support/root.js";

const RECORD_WRAPPER = join(ROOT, "scripts", "bench", "record-wrapper.sh");

describe("learnAgentVersion", () => {
  it("reads what the agent prints, and an unversioned build as unknown", async () => {
    const env = { PATH: process.env.PATH, STANDIN_VERSION: "v0.41.0" };
    expect(await learnAgentVersion(STANDIN, env)).toBe("v0.41.0");
    expect(await learnAgentVersion(STANDIN, { PATH: process.env.PATH })).toBeUndefined();
  });

  it("a wrapper that starts something long-lived instead: unknown within the timeout, nothing left", async () => {
    const record = join(ROOT, "build", "version-probe.record");
    const env = { PATH: process.env.PATH, STANDIN_RECORD: record };
    expect(await learnAgentVersion(RECORD_WRAPPER, env, 500)).toBeUndefined();
    await waitFor("nothing left", async () => {
      const { execFileSync } = await import("node:child_process");
      try {
        execFileSync("pgrep", ["-f", "record.sh --version"]);
        return false;
      } catch {
        return true;
      }
    });
  });
});
