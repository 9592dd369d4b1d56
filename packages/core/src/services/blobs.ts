import { RegistryError } from "../errors.ts";
import type { Digest } from "../oci/digest.ts";
import { EMPTY_BLOB } from "../oci/media-types.ts";
import type { RepositoryName } from "../oci/names.ts";
import type { BlobContent, BlobRecord, BlobStore, ByteRange, MetadataStore, TenantId } from "../ports.ts";
import type { KeyedLock } from "./keyed-lock.ts";

export interface BlobDeps {
  blobs: BlobStore;
  metadata: MetadataStore;
  tenantOf: (name: RepositoryName) => TenantId;
  blobLock: KeyedLock;
}

const EMPTY: BlobRecord = { digest: EMPTY_BLOB.digest as Digest, size: EMPTY_BLOB.size };

function unknownBlob(repository: RepositoryName, digest: Digest): RegistryError {
  return new RegistryError("BLOB_UNKNOWN", `blob ${digest} is not in repository ${repository}`, { digest });
}

/** Reading and deleting committed blobs of a repository. */
export class BlobService {
  constructor(private readonly deps: BlobDeps) {}

  /** The blob linked to the repository. The empty descriptor's "{}" is in every repository (image-spec). */
  async stat(repository: RepositoryName, digest: Digest): Promise<BlobRecord> {
    const found = await this.deps.metadata.findLinkedBlob(repository, digest);
    if (found) return found;
    if (digest === EMPTY.digest) return EMPTY;
    throw unknownBlob(repository, digest);
  }

  async open(repository: RepositoryName, digest: Digest, rangeOf: (size: number) => ByteRange | undefined): Promise<{ blob: BlobRecord; content: BlobContent }> {
    const blob = await this.stat(repository, digest);
    const range = rangeOf(blob.size);
    if (blob === EMPTY) {
      const bytes = EMPTY_BLOB.bytes.slice(range?.start ?? 0, (range?.end ?? EMPTY.size - 1) + 1);
      return { blob, content: { kind: "stream", body: new Blob([bytes]).stream(), size: EMPTY.size, ...(range ? { range } : {}) } };
    }
    const content = await this.deps.blobs.open(this.deps.tenantOf(repository), blob, range);
    // Metadata says linked but the bytes are gone: report unknown rather than fail the pull with a 500.
    if (!content) throw unknownBlob(repository, digest);
    return { blob, content };
  }

  /**
   * Where a HEAD of the blob can be answered with its true size (the store's headUrl), or undefined
   * when the store has no HEAD URLs (the registry answers itself). The empty descriptor that was never
   * uploaded has no object to point at: it is unknown to HEAD here, so a pushing client uploads its
   * two bytes (GET still serves it everywhere).
   */
  async headUrl(repository: RepositoryName, digest: Digest): Promise<string | undefined> {
    const blob = await this.stat(repository, digest);
    const store = this.deps.blobs;
    if (!store.headUrl) return undefined;
    if (blob === EMPTY) throw unknownBlob(repository, digest);
    const url = await store.headUrl(this.deps.tenantOf(repository), blob);
    if (url === undefined) throw unknownBlob(repository, digest);
    return url;
  }

  /** Unlinks the blob from the repository; its bytes go once no repository of the tenant links it. */
  async delete(repository: RepositoryName, digest: Digest): Promise<void> {
    const tenant = this.deps.tenantOf(repository);
    await this.deps.blobLock.run(`${tenant}/${digest}`, async () => {
      const { unlinked, orphan } = await this.deps.metadata.unlinkBlob(tenant, repository, digest);
      if (!unlinked) throw unknownBlob(repository, digest);
      if (orphan) await this.deps.blobs.delete(tenant, orphan);
    });
  }
}
