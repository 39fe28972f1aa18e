// Tests that need something of the machine (a privilege, a kernel file). Where it is missing, a
// test never passes unseen: with PARCA_SIDECAR_ALL_TESTS=1 (.ci/run: every test must run) it
// fails naming what is missing; elsewhere it is skipped with the reason in its name, and the
// suite's last line lists it (test/support/skip-reporter.ts).
import { it } from "vitest";

export const ALL_TESTS = process.env.PARCA_SIDECAR_ALL_TESTS === "1";

type TestBody = () => Promise<void> | void;

/** `it` where `can` holds; elsewhere a failure (every test must run) or a skip, saying `missing`. */
export function itWhere(can: boolean, missing: string) {
  return (name: string, body: TestBody, timeoutMs?: number) => {
    if (can) return it(name, body, timeoutMs);
    if (ALL_TESTS) {
      return it(name, () => {
        throw new Error(`this test must run (PARCA_SIDECAR_ALL_TESTS=1) but cannot: ${missing}`);
      });
    }
    return it.skip(`${name} [skipped: ${missing}]`, body);
  };
}
