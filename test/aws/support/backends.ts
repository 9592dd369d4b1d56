import { inject } from "vitest";

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
