import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { FileBlobStore } from "./file-blob-store.ts";
import { SqliteMetadataStore } from "./sqlite-metadata-store.ts";

export { FileBlobStore, type FileBlobStoreOptions } from "./file-blob-store.ts";
export { SqliteMetadataStore, type SqliteMetadataStoreOptions } from "./sqlite-metadata-store.ts";

export interface LocalStorage {
  blobs: FileBlobStore;
  metadata: SqliteMetadataStore;
  /** Closes the SQLite database; the blob store holds nothing open between calls. */
  close(): void;
}

/** The embedded storage under one data directory: blobs/, uploads/ and metadata.db, created if missing. */
export async function openLocalStorage(dataDir: string): Promise<LocalStorage> {
  await mkdir(join(dataDir, "blobs"), { recursive: true });
  await mkdir(join(dataDir, "uploads"), { recursive: true });
  const blobs = new FileBlobStore({ dataDir });
  const metadata = new SqliteMetadataStore({ dataDir });
  return { blobs, metadata, close: () => metadata.close() };
}
