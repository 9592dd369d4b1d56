import type { RepositoryName } from "../oci/names.ts";
import type { BlobRecord, BlobStore, MetadataStore, TenantId, TenantStore } from "../ports.ts";
import type { KeyedLock } from "./keyed-lock.ts";

export interface RepositoryDeps {
  blobs: BlobStore;
  metadata: MetadataStore;
  tenantOf: (name: RepositoryName) => TenantId;
  /** The lock uploads and blob deletes take (`<tenant>/<digest>`): share the registry's. */
  blobLock: KeyedLock;
  /** Visibility records (multi-tenant mode): a deleted repository's is reset to private. */
  tenants?: TenantStore;
}

/** Repositories as a whole: deleting one with every image in it gives its room back (ports.ts deleteRepository). */
export class RepositoryService {
  constructor(private readonly deps: RepositoryDeps) {}

  /** Deletes the repository, its manifests, tags and blob links, and the bytes of blobs only it linked; false when there is none. */
  async delete(repository: RepositoryName): Promise<boolean> {
    const tenant = this.deps.tenantOf(repository);
    if (!(await this.deps.metadata.repositoryExists(repository))) return false;
    // Private before the content goes, not after: a failure or crash part way must never leave the
    // name public for whoever pushes to it next (the tenant's own, but perhaps other, images).
    await this.deps.tenants?.setVisibility(tenant, repository, "private");
    const { deleted, orphans } = await this.deps.metadata.deleteRepository(tenant, repository);
    for (const orphan of orphans) await this.deleteBytes(tenant, orphan);
    return deleted;
  }

  /**
   * The bytes of a blob whose record the store removed, under the same lock as uploads and blobs.ts. The
   * store could not hold it while it ran, so the blob may have been committed again in between (the
   * adapter then kept the bytes in place for the new record): those bytes stay. Across processes the
   * same window remains as for every orphan (keyed-lock.ts).
   */
  private async deleteBytes(tenant: TenantId, orphan: BlobRecord): Promise<void> {
    await this.deps.blobLock.run(`${tenant}/${orphan.digest}`, async () => {
      const current = await this.deps.metadata.findBlob(tenant, orphan.digest);
      if (current !== undefined && current.location === orphan.location) return;
      await this.deps.blobs.delete(tenant, orphan);
    });
  }
}
