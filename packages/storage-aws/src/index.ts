// @stratus/storage-aws: blobs in S3, metadata in DynamoDB (docs/s3-layout.md, docs/dynamodb.md).
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import { DynamoDeploymentStore } from "./dynamo-deployment-store.ts";
import { DynamoMetadataStore } from "./dynamo-metadata-store.ts";
import { DynamoTenantStore } from "./dynamo-tenant-store.ts";
import { S3BlobStore } from "./s3-blob-store.ts";
import { createS3Client } from "./s3-client.ts";
import { S3ManifestOverflow } from "./s3-manifest-overflow.ts";

export { S3BlobStore, type S3BlobStoreOptions } from "./s3-blob-store.ts";
export { createS3Client, type S3ClientOptions } from "./s3-client.ts";
export { S3_MIN_PART_SIZE, DEFAULT_PART_SIZE } from "./s3-staging.ts";
export { DynamoMetadataStore, type DynamoMetadataStoreOptions } from "./dynamo-metadata-store.ts";
export { DynamoTenantStore, type DynamoTenantStoreOptions } from "./dynamo-tenant-store.ts";
export { DynamoDeploymentStore, type DynamoDeploymentStoreOptions } from "./dynamo-deployment-store.ts";
export { S3ManifestOverflow } from "./s3-manifest-overflow.ts";
export type { ManifestOverflow } from "./manifest-overflow.ts";

/** How long after core's upload TTL DynamoDB may delete a session item nobody swept. */
export const SESSION_TTL_BACKSTOP_SECONDS = 7 * 24 * 3600;

export interface AwsStorageOptions {
  bucket: string;
  table: string;
  region: string;
  s3Endpoint?: string;
  dynamodbEndpoint?: string;
  /** Lifetime of presigned blob URLs. */
  presignSeconds: number;
  /** Core's upload TTL: DynamoDB's session TTL is set a week past it, a backstop the sweep never lets fire. */
  uploadTtlSeconds: number;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Clients to use instead of new ones (tests attach request counters to them). */
  s3Client?: S3Client;
  dynamoClient?: DynamoDBClient;
}

export interface AwsStorage {
  blobs: S3BlobStore;
  metadata: DynamoMetadataStore;
  /** Tenants, plans, API keys and visibility, in the same table as the metadata. */
  tenants: DynamoTenantStore;
  /** The tenancy mode the table was first served in, in the same table. */
  deployment: DynamoDeploymentStore;
  close(): void;
}

/** The production storage, over an existing bucket and table (the CDK stack creates them). */
export function openAwsStorage(options: AwsStorageOptions): AwsStorage {
  const credentials = options.credentials ? { credentials: options.credentials } : {};
  const s3 =
    options.s3Client ??
    createS3Client({ region: options.region, ...(options.s3Endpoint ? { endpoint: options.s3Endpoint } : {}), ...credentials });
  const dynamo =
    options.dynamoClient ??
    new DynamoDBClient({ region: options.region, ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}), ...credentials });
  const blobs = new S3BlobStore({ client: s3, bucket: options.bucket, presignExpiresInSeconds: options.presignSeconds });
  const metadata = new DynamoMetadataStore({
    client: dynamo,
    tableName: options.table,
    overflow: new S3ManifestOverflow({ client: s3, bucket: options.bucket }),
    // A TTL deletion counts nothing out of the tenant's usage (dynamo-uploads.ts): only a backstop.
    sessionTtlSeconds: options.uploadTtlSeconds + SESSION_TTL_BACKSTOP_SECONDS,
  });
  const tenants = new DynamoTenantStore({ client: dynamo, tableName: options.table });
  const deployment = new DynamoDeploymentStore({ client: dynamo, tableName: options.table });
  return {
    blobs,
    metadata,
    tenants,
    deployment,
    close() {
      if (!options.s3Client) s3.destroy();
      if (!options.dynamoClient) dynamo.destroy();
    },
  };
}
