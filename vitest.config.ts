import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: run files in parallel, two at a time.
    maxWorkers: 2,
    pool: "forks",
  },
});
