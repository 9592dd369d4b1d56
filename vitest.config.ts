import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts", "stacks/test/**/*.test.ts"],
    // The AWS adapters need their backends: `npm run test:aws` (vitest.aws.config.ts).
    exclude: ["**/node_modules/**", "packages/storage-aws/**", "test/aws/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: run test files in parallel, two at a time.
    maxWorkers: 2,
    pool: "forks",
    // The JSON report feeds .ci/run's one-line summary.
    reporters: ["default", ["json", { outputFile: ".tmp/vitest.json" }]],
  },
});
