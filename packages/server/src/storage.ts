import type { BlobStore, DeploymentStore, MetadataStore, RegistryConfigInput, TenantStore } from "@stratus/core";
import type { ServerOptions } from "./options.ts";

/** The storage the server runs on, and what it implies for the registry's settings. */
export interface OpenedStorage {
  blobs: BlobStore;
  metadata: MetadataStore;
  /** Tenants, plans, API keys and visibility: in the metadata's SQLite file or DynamoDB table. */
  tenants: TenantStore;
  /** The tenancy mode the storage was created in. */
  deployment: DeploymentStore;
  /** The storage, as an operator names it: "data directory ./data". */
  description: string;
  /** What the start-up log line says of it: where it is, and which SQLite driver a local one runs on. */
  facts: Record<string, string>;
  registryConfig: Partial<RegistryConfigInput>;
  close(): Promise<void> | void;
}

export async function openStorage(options: ServerOptions): Promise<OpenedStorage> {
  if (options.storage === "aws") {
    // Loaded only when asked for: `npm start` on local storage never loads the AWS SDK.
    const { openAwsStorage, S3_MIN_PART_SIZE } = await import("@stratus/storage-aws");
    const storage = await openAwsStorage({
      bucket: options.bucket!,
      table: options.table!,
      region: options.region,
      presignSeconds: options.presignSeconds,
      uploadTtlSeconds: options.uploadTtlSeconds,
      ...(options.s3Endpoint ? { s3Endpoint: options.s3Endpoint } : {}),
      ...(options.dynamodbEndpoint ? { dynamodbEndpoint: options.dynamodbEndpoint } : {}),
    });
    return {
      ...storage,
      description: `DynamoDB table ${options.table}`,
      facts: { bucket: options.bucket!, table: options.table!, region: options.region },
      // S3 parts are at least 5 MiB; and with staged parts unreadable until completed, the hash
      // state must travel with the session (any process may take the next request).
      registryConfig: { chunkMinLength: S3_MIN_PART_SIZE, resumableHashing: true },
    };
  }
  const { openLocalStorage } = await import("@stratus/storage-local");
  const storage = await openLocalStorage(options.dataDir);
  return { ...storage, description: `data directory ${options.dataDir}`, facts: { dataDir: options.dataDir, sqlite: storage.sqliteDriver }, registryConfig: {} };
}
