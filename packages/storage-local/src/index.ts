import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { FileBlobStore } from "./file-blob-store.ts";
import { SqliteMetadataStore } from "./sqlite-metadata-store.ts";
import { SqliteTenantStore } from "./sqlite-tenant-store.ts";

export { FileBlobStore, type FileBlobStoreOptions } from "./file-blob-store.ts";
export { SqliteMetadataStore, type SqliteMetadataStoreOptions } from "./sqlite-metadata-store.ts";
export { SqliteTenantStore, type SqliteTenantStoreOptions } from "./sqlite-tenant-store.ts";

export interface LocalStorage {
  blobs: FileBlobStore;
  metadata: SqliteMetadataStore;
  /** Tenants, plans, API keys and visibility: in metadata.db too, on a connection of its own. */
  tenants: SqliteTenantStore;
  /** Closes the SQLite connections; the blob store holds nothing open between calls. */
  close(): void;
}

/** The embedded storage under one data directory: blobs/, uploads/ and metadata.db (metadata and tenants), created if missing. */
export async function openLocalStorage(dataDir: string): Promise<LocalStorage> {
  await mkdir(join(dataDir, "blobs"), { recursive: true });
  await mkdir(join(dataDir, "uploads"), { recursive: true });
  const blobs = new FileBlobStore({ dataDir });
  const metadata = new SqliteMetadataStore({ dataDir });
  let tenants: SqliteTenantStore;
  try {
    tenants = new SqliteTenantStore({ dataDir });
  } catch (error) {
    metadata.close();
    throw error;
  }
  return {
    blobs,
    metadata,
    tenants,
    close: () => {
      tenants.close();
      metadata.close();
    },
  };
}
