import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { learnAgentVersion } from "../../src/agent/agent-version.js";
import { allPids, cmdline } from "../../src/agent/proc.js";
import { STANDIN, waitFor } from "../support/procs.js";
import { ROOT } from "../support/root.js";

const RECORD_WRAPPER = join(ROOT, "scripts", "bench", "record-wrapper.sh");

/** Live processes started to answer `--version` by the wrapper or the agent script it runs. */
const probes = () =>
  allPids().filter((pid) => {
    const argv = cmdline(pid) ?? [];
    return (
      argv.includes("--version") &&
      argv.some((a) => a.endsWith("record.sh") || a === RECORD_WRAPPER)
    );
  });

describe("learnAgentVersion", () => {
  it("reads what the agent prints — a release's version without a v, another build's with one — and an unversioned build as unknown", async () => {
    const env = (version?: string) => ({
      PATH: process.env.PATH,
      ...(version === undefined ? {} : { STANDIN_VERSION: version }),
    });
    // A release build prints a log line on stderr first, then "parca-agent, version 0.49.0 (…".
    expect(await learnAgentVersion(STANDIN, env("0.49.0"))).toBe("0.49.0");
    expect(await learnAgentVersion(STANDIN, env("v0.41.0"))).toBe("v0.41.0");
    expect(await learnAgentVersion(STANDIN, env())).toBeUndefined();
  });

  it("a wrapper that starts something long-lived instead: unknown within the timeout, nothing left", async () => {
    const record = join(ROOT, "build", "version-probe.record");
    const env = { PATH: process.env.PATH, STANDIN_RECORD: record };
    const started = Date.now();
    expect(await learnAgentVersion(RECORD_WRAPPER, env, 500)).toBeUndefined();
    // The timeout, plus 1 s of slack for a loaded machine's timers.
    expect(Date.now() - started).toBeLessThanOrEqual(500 + 1000);
    await waitFor("nothing left", () => probes().length === 0);
  });

  it("gives up at once when asked to (a stop during start-up)", async () => {
    const env = {
      PATH: process.env.PATH,
      STANDIN_RECORD: join(ROOT, "build", "version-probe.record"),
    };
    const stop = new AbortController();
    const learning = learnAgentVersion(RECORD_WRAPPER, env, 60_000, stop.signal);
    await waitFor("the probe", () => probes().length > 0);
    const asked = Date.now();
    stop.abort();
    expect(await learning).toBeUndefined();
    expect(Date.now() - asked).toBeLessThanOrEqual(1000);
    await waitFor("nothing left", () => probes().length === 0);
  });
});
