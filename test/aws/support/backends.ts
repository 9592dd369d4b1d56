import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createS3Client } from "@stratus/storage-aws";
import { inject } from "vitest";
import { createTable } from "../../../packages/storage-aws/src/dynamo-table.ts";

/** Where the test backends listen; DynamoDB Local accepts any credentials, radosgw checks these. */
export interface AwsTestBackends {
  region: string;
  dynamoEndpoint: string;
  s3Endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    awsBackends: AwsTestBackends;
  }
}

export function awsBackends(): AwsTestBackends {
  return inject("awsBackends");
}

/** A name no other test uses: buckets and tables are created per test file or per test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A fresh bucket and table on the run's backends, with the credentials put where the SDK's default
 * chain finds them (process.env), as on AWS: what a deployment under test runs on.
 */
export async function freshBucketAndTable(prefix = "stratus"): Promise<{ bucket: string; table: string; backends: AwsTestBackends }> {
  const backends = awsBackends();
  process.env.AWS_ACCESS_KEY_ID = backends.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = backends.secretAccessKey;
  const bucket = uniqueName(prefix);
  const table = uniqueName(prefix);
  const s3 = createS3Client({ region: backends.region, endpoint: backends.s3Endpoint });
  const dynamo = new DynamoDBClient({ region: backends.region, endpoint: backends.dynamoEndpoint });
  try {
    await Promise.all([s3.send(new CreateBucketCommand({ Bucket: bucket })), createTable(dynamo, table)]);
  } finally {
    s3.destroy();
    dynamo.destroy();
  }
  return { bucket, table, backends };
}
