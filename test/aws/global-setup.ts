import type { TestProject } from "vitest/node";
import { startDynamoDbLocal } from "./support/dynamodb-local.ts";
import { startRadosgw } from "./support/radosgw.ts";
import type { AwsTestBackends } from "./support/backends.ts";

// Starts DynamoDB Local and radosgw once for the whole AWS run, in parallel, and stops them after.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = await Promise.allSettled([startDynamoDbLocal(), startRadosgw()]);
  const [dynamoResult, s3Result] = started;
  if (dynamoResult.status === "rejected" || s3Result.status === "rejected") {
    // Stop whichever did start before reporting the failure.
    await Promise.allSettled(started.flatMap((r) => (r.status === "fulfilled" ? [r.value.stop()] : [])));
    throw dynamoResult.status === "rejected" ? dynamoResult.reason : (s3Result as PromiseRejectedResult).reason;
  }
  const dynamo = dynamoResult.value;
  const s3 = s3Result.value;
  const backends: AwsTestBackends = {
    region: "us-east-1",
    dynamoEndpoint: dynamo.endpoint,
    s3Endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  };
  project.provide("awsBackends", backends);
  return async () => {
    await Promise.allSettled([dynamo.stop(), s3.stop()]);
  };
}
