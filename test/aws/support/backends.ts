import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createS3Client } from "@stratus/storage-aws";
import { inject } from "vitest";
import { createTable } from "../../../packages/storage-aws/src/dynamo-table.ts";
import { removeBucket } from "../../../packages/storage-aws/test/s3-fixture.ts";

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

/** A bucket and table of a test file's own, with the clients that made them (see scratchStorage). */
export interface ScratchStorage {
  bucket: string;
  table: string;
  backends: AwsTestBackends;
  /** The clients that created the bucket and table: their requests are never the registry's. */
  admin: { s3: S3Client; dynamo: DynamoDBClient };
  /** New clients for the code under test, which a test may count or record without seeing setup. */
  clients(): { s3: S3Client; dynamo: DynamoDBClient };
  /** Removes the bucket and table (best effort) and closes the admin clients. */
  remove(): Promise<void>;
}

/** A fresh bucket and table made through clients of their own, so only the registry's requests reach the ones a test counts. */
export async function scratchStorage(prefix: string): Promise<ScratchStorage> {
  const backends = awsBackends();
  const credentials = { accessKeyId: backends.accessKeyId, secretAccessKey: backends.secretAccessKey };
  const clients = () => ({
    s3: createS3Client({ region: backends.region, endpoint: backends.s3Endpoint, credentials }),
    dynamo: new DynamoDBClient({ region: backends.region, endpoint: backends.dynamoEndpoint, credentials }),
  });
  const admin = clients();
  const bucket = uniqueName(prefix);
  const table = uniqueName(prefix);
  await Promise.all([admin.s3.send(new CreateBucketCommand({ Bucket: bucket })), createTable(admin.dynamo, table)]);
  return {
    bucket,
    table,
    backends,
    admin,
    clients,
    async remove() {
      // radosgw and DynamoDB Local keep everything in memory for the rest of the run.
      await removeBucket(admin.s3, bucket).catch(() => undefined);
      await admin.dynamo.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
      admin.s3.destroy();
      admin.dynamo.destroy();
    },
  };
}
