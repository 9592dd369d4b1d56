import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "@stratus/server";
import { createS3Client } from "@stratus/storage-aws";
import { createTable } from "../../../packages/storage-aws/src/dynamo-table.ts";
import { awsBackends, uniqueName } from "./backends.ts";

/**
 * The Node server exactly as `npm start -- --storage aws` runs it, on a fresh bucket and table of the
 * run's radosgw and DynamoDB Local. Credentials reach it the usual way, through the environment.
 */
export async function startAwsServer(options: Partial<ServerOptionsInput> = {}): Promise<RunningServer> {
  const backends = awsBackends();
  process.env.AWS_ACCESS_KEY_ID = backends.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = backends.secretAccessKey;
  const bucket = uniqueName("stratus");
  const table = uniqueName("stratus");
  const s3 = createS3Client({ region: backends.region, endpoint: backends.s3Endpoint });
  const dynamo = new DynamoDBClient({ region: backends.region, endpoint: backends.dynamoEndpoint });
  try {
    await Promise.all([s3.send(new CreateBucketCommand({ Bucket: bucket })), createTable(dynamo, table)]);
  } finally {
    s3.destroy();
    dynamo.destroy();
  }
  return startServer(
    serverOptionsSchema.parse({
      port: 0,
      logLevel: "silent",
      storage: "aws",
      bucket,
      table,
      region: backends.region,
      s3Endpoint: backends.s3Endpoint,
      dynamodbEndpoint: backends.dynamoEndpoint,
      ...options,
    }),
  );
}
