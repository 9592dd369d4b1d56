import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "@stratus/server";
import { freshBucketAndTable } from "./backends.ts";

/**
 * The Node server exactly as `npm start -- --storage aws` runs it, on a fresh bucket and table of the
 * run's radosgw and DynamoDB Local. Credentials reach it the usual way, through the environment.
 */
export async function startAwsServer(options: Partial<ServerOptionsInput> = {}): Promise<RunningServer> {
  const { bucket, table, backends } = await freshBucketAndTable();
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
