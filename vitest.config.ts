import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A 2-core CI box is slow and noisy: tests wait on conditions, with room to spare.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The last line lists every skipped test and why (none when every test must run).
    reporters: ["default", "./test/support/skip-reporter.ts"],
  },
});
