import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { FileBlobStore } from "./file-blob-store.ts";
import { PRIVATE_DIR_MODE, restrictModes } from "./private-files.ts";
import { SqliteDeploymentStore } from "./sqlite-deployment-store.ts";
import { sqliteDriver, type SqliteDriverName } from "./sqlite-driver.ts";
import { SqliteMetadataStore } from "./sqlite-metadata-store.ts";
import { SqliteTenantStore } from "./sqlite-tenant-store.ts";

export { FileBlobStore, type FileBlobStoreOptions } from "./file-blob-store.ts";
export { SqliteMetadataStore, type SqliteMetadataStoreOptions } from "./sqlite-metadata-store.ts";
export { SqliteTenantStore, type SqliteTenantStoreOptions } from "./sqlite-tenant-store.ts";
export { SqliteDeploymentStore, type SqliteDeploymentStoreOptions } from "./sqlite-deployment-store.ts";

export interface LocalStorage {
  blobs: FileBlobStore;
  metadata: SqliteMetadataStore;
  /** Tenants, plans, API keys and visibility: in metadata.db too, on a connection of its own. */
  tenants: SqliteTenantStore;
  /** The tenancy mode the directory was created in: in metadata.db too. */
  deployment: SqliteDeploymentStore;
  /** Which SQLite driver opened metadata.db: better-sqlite3 where it loads, else Node's own (sqlite-driver.ts). */
  sqliteDriver: SqliteDriverName;
  /** Closes the SQLite connections; the blob store holds nothing open between calls. */
  close(): void;
}

/**
 * The embedded storage under one data directory: blobs/, uploads/ and metadata.db (metadata and
 * tenants), created if missing, readable by the server's user only (private-files.ts). A data
 * directory that exists keeps its own mode: it may be a mount point or hold other files.
 */
export async function openLocalStorage(dataDir: string): Promise<LocalStorage> {
  await mkdir(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await mkdir(join(dataDir, "blobs"), { recursive: true, mode: PRIVATE_DIR_MODE });
  await mkdir(join(dataDir, "uploads"), { recursive: true, mode: PRIVATE_DIR_MODE });
  restrictModes([join(dataDir, "blobs"), join(dataDir, "uploads")], PRIVATE_DIR_MODE);
  const blobs = new FileBlobStore({ dataDir });
  const metadata = new SqliteMetadataStore({ dataDir });
  let tenants: SqliteTenantStore;
  let deployment: SqliteDeploymentStore;
  try {
    tenants = new SqliteTenantStore({ dataDir });
  } catch (error) {
    metadata.close();
    throw error;
  }
  try {
    deployment = new SqliteDeploymentStore({ dataDir });
  } catch (error) {
    tenants.close();
    metadata.close();
    throw error;
  }
  return {
    blobs,
    metadata,
    tenants,
    deployment,
    sqliteDriver: sqliteDriver().name,
    close: () => {
      deployment.close();
      tenants.close();
      metadata.close();
    },
  };
}
