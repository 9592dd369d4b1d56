import { defineConfig } from "vitest/config";

// `npm run test:aws`: the AWS adapters against real wire-protocol servers started on loopback by
// test/aws/global-setup.ts (DynamoDB Local on Java, Ceph radosgw from Debian).
export default defineConfig({
  test: {
    include: ["packages/storage-aws/test/**/*.test.ts", "test/aws/**/*.test.ts"],
    globalSetup: ["test/aws/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: ".tmp/vitest-aws.json" }]],
  },
});
