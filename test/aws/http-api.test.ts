import { httpApiSuite, type StartOptions } from "../http-api/suite.ts";
import { startAwsServer } from "./support/aws-server.ts";

// The same HTTP API suite as the local server, on the AWS adapters: S3 on radosgw, DynamoDB Local.
// Blob GETs answer 307 to a presigned radosgw URL; fetch follows it, Range header included.
httpApiSuite("the server on S3 and DynamoDB", async (options: StartOptions = {}) => {
  const server = await startAwsServer(options);
  return { url: server.url, close: () => server.close() };
});
