import { expect, test } from "vitest";

// The registry Lambda runs on nodejs22.x (stacks/src/registry-api.ts) and middy 7 requires Node 22:
// `npm run test:lambda` runs these suites on Node 22 (scripts/node22.ts), whatever Node runs npm.
test("the Lambda suites run on Node 22, the runtime's major", () => {
  expect(process.versions.node.split(".")[0]).toBe("22");
});
