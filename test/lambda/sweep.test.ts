import { afterAll, beforeAll, expect, it } from "vitest";
import { createSweepHandler } from "../../packages/lambda/src/registry-handler.ts";
import { startLambdaDeployment, type LambdaDeployment } from "./support/lambda-deployment.ts";

// The scheduled sweeper expires idle upload sessions of the deployment it shares storage with.
let deployment: LambdaDeployment;
beforeAll(async () => {
  deployment = await startLambdaDeployment({ uploadTtlSeconds: 1 });
});
afterAll(async () => {
  await deployment?.close();
});

it("removes upload sessions idle past the TTL, and then they are unknown", async () => {
  const started = await fetch(`${deployment.url}/v2/sweep/app/blobs/uploads/`, { method: "POST" });
  expect(started.status).toBe(202);
  const location = started.headers.get("location")!;
  await fetch(`${deployment.url}${location}`, { method: "PATCH", body: new Uint8Array(1000), headers: { "content-type": "application/octet-stream" } });
  await new Promise((r) => setTimeout(r, 2200));
  const result = await createSweepHandler(deployment.env)();
  expect(result.removed).toBeGreaterThanOrEqual(1);
  expect((await fetch(`${deployment.url}${location}`)).status).toBe(404);
});
