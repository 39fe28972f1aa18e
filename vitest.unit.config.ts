import { defineConfig } from "vitest/config";

/**
 * The fast tier (`npm run test:unit`), the edit loop: every test that runs in this process —
 * the loop's rules, relation reading, flag rendering, the check against loopback stores in this
 * process, the relay between loopback clients and stores, delivery, logging. No root, no Go, no ingress, no sidecar, agent or store process
 * (a `mkfifo` is the one helper run). `npm test` runs these and everything else.
 */
export const UNIT_TESTS = [
  "test/loop/**/*.test.ts",
  "test/reconcile/loop.test.ts",
  "test/reconcile/burst.test.ts",
  "test/relation/**/*.test.ts",
  "test/store/check.test.ts",
  "test/store/target.test.ts",
  "test/relay/**/*.test.ts",
  "test/delivery/**/*.test.ts",
  "test/agent/flags.test.ts",
  "test/cli/status-summary.test.ts",
  "test/log.test.ts",
];

export default defineConfig({
  test: {
    include: UNIT_TESTS,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
