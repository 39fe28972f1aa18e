// The suite's last line: every skipped test, and why (its name carries the reason). Under
// PARCA_SIDECAR_ALL_TESTS=1 there must be none, and a skip fails the run.
import type { Reporter, TestModule } from "vitest/node";

export default class SkipReporter implements Reporter {
  onTestRunEnd(modules: readonly TestModule[]): void {
    const skipped: string[] = [];
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        if (test.result().state === "skipped") skipped.push(`${module.moduleId}: ${test.fullName}`);
      }
    }
    const all = process.env.PARCA_SIDECAR_ALL_TESTS === "1";
    console.log(
      skipped.length === 0
        ? "Skipped tests: 0"
        : `Skipped tests: ${skipped.length}${all ? " (every test must run: this fails the run)" : ""} — ${skipped.join("; ")}`,
    );
    if (all && skipped.length > 0) process.exitCode = 1;
  }
}
