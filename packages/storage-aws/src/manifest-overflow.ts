/**
 * Where the DynamoDB metadata store keeps manifests too large for an item (DynamoDB items stop at
 * 400 KB; manifests may reach 4 MiB). The store chooses the keys, one per push of a manifest, so
 * concurrent writers never overwrite each other and a delete never removes bytes another push still uses.
 * Failures of the object store itself throw StorageUnavailableError.
 */
export interface ManifestOverflow {
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** undefined when no object has the key (deleted, or never written). */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
}
