import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts", "stacks/test/**/*.test.ts"],
    // Suites that need DynamoDB Local and radosgw: `npm run test:aws`, `npm run test:lambda`.
    exclude: ["**/node_modules/**", "packages/storage-aws/**", "test/aws/**", "test/lambda/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: run test files in parallel, two at a time.
    maxWorkers: 2,
    pool: "forks",
    // The JSON report feeds .ci/run's one-line summary.
    reporters: ["default", ["json", { outputFile: ".tmp/vitest.json" }]],
  },
});
