import { defineConfig } from "vitest/config";

// `npm run test:lambda`: the registry Lambda handler behind a local API Gateway emulation
// (test/lambda/support/api-gateway-emulator.ts), on DynamoDB Local and radosgw started once by the
// AWS suite's global setup.
export default defineConfig({
  test: {
    include: ["test/lambda/**/*.test.ts"],
    globalSetup: ["test/aws/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: ".tmp/vitest-lambda.json" }]],
  },
});
