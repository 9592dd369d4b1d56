import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createS3Client, DynamoMetadataStore } from "@stratus/storage-aws";
import type { TenantId } from "@stratus/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { createSweepHandler, SWEEP_MARGIN_MS } from "../../packages/lambda/src/registry-handler.ts";
import { awsBackends } from "../aws/support/backends.ts";
import { startLambdaDeployment, type LambdaDeployment } from "./support/lambda-deployment.ts";

// The scheduled sweeper expires idle upload sessions of the deployment it shares storage with: all
// of them in one run (within its time), their S3 staging (multipart uploads and tails) gone, and
// their place in the tenant's figures given back (issue 10, item 4).
let deployment: LambdaDeployment;
beforeAll(async () => {
  deployment = await startLambdaDeployment({ uploadTtlSeconds: TTL_SECONDS });
});
afterAll(async () => {
  await deployment?.close();
});

const MB = 1_000_000;
const TTL_SECONDS = 4;
const pastTtl = () => new Promise((r) => setTimeout(r, TTL_SECONDS * 1000 + 200));
const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs });

async function start(): Promise<string> {
  const started = await fetch(`${deployment.url}/v2/sweep/app/blobs/uploads/`, { method: "POST" });
  expect(started.status).toBe(202);
  return started.headers.get("location")!;
}

async function patch(location: string, size: number, from: number): Promise<string> {
  const res = await fetch(`${deployment.url}${location}`, {
    method: "PATCH",
    body: new Uint8Array(size),
    headers: { "content-type": "application/octet-stream", "content-range": `${from}-${from + size - 1}` },
  });
  expect(res.status, await res.clone().text()).toBe(202);
  return res.headers.get("location")!;
}

/** Objects and unfinished multipart uploads in the deployment's bucket, and the single tenant's upload figures. */
async function leftBehind() {
  const b = awsBackends();
  const s3 = createS3Client({ region: b.region, endpoint: b.s3Endpoint });
  const dynamo = new DynamoDBClient({ region: b.region, endpoint: b.dynamoEndpoint });
  try {
    const Bucket = deployment.env[LAMBDA_ENV.bucket]!;
    const [objects, multipart] = await Promise.all([s3.send(new ListObjectsV2Command({ Bucket })), s3.send(new ListMultipartUploadsCommand({ Bucket }))]);
    const metadata = new DynamoMetadataStore({ client: dynamo, tableName: deployment.env[LAMBDA_ENV.table]! });
    const { sessions, stagedBytes } = await metadata.uploadUsage("default" as TenantId);
    return { objects: objects.Contents?.length ?? 0, multipart: multipart.Uploads?.length ?? 0, sessions, stagedBytes };
  } finally {
    s3.destroy();
    dynamo.destroy();
  }
}

it("removes every session idle past the TTL in one run, aborting S3 multipart uploads and counting them out", async () => {
  // Two PATCHes past the 8 MiB part size: a multipart upload with one part, and a tail object.
  const sessions = [await start(), await start()];
  const next = await patch(sessions[0]!, 4.4 * MB, 0);
  await patch(next, 4.4 * MB, 4.4 * MB);
  await patch(sessions[1]!, 1_000, 0);
  sessions.push(...(await Promise.all(Array.from({ length: 38 }, () => start()))));
  const before = await leftBehind();
  expect(before).toMatchObject({ multipart: 1, sessions: 40, stagedBytes: 8.8 * MB + 1_000 });
  expect(before.objects).toBeGreaterThanOrEqual(2);
  await pastTtl();

  const result = await createSweepHandler(deployment.env)({}, context(300_000));
  expect(result.removed).toBe(40);
  expect(await leftBehind()).toEqual({ objects: 0, multipart: 0, sessions: 0, stagedBytes: 0 });
  expect((await fetch(`${deployment.url}${sessions[0]}`)).status).toBe(404);
  expect((await createSweepHandler(deployment.env)({}, context(300_000))).removed).toBe(0);
});

it("runs with Lambda's context, finishing the page it started even when short of time", async () => {
  await Promise.all(Array.from({ length: 5 }, () => start()));
  await pastTtl();
  // Less time left than the margin: it still finishes the one page it started (pages are 500).
  const sweep = createSweepHandler(deployment.env);
  expect((await sweep({}, context(SWEEP_MARGIN_MS - 1))).removed).toBe(5);
  expect(await leftBehind()).toMatchObject({ sessions: 0, stagedBytes: 0 });
});
