import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type {
  BlobRecord, Clock, Digest, ManifestRecord, ManifestReference, ManifestSummary, MetadataStore, Page, PageRequest, QuotaExceeded,
  QuotaOutcome, ReferrerRecord, RepositoryName, Tag, TenantId, TenantLimits, TenantUsage, UploadId, UploadSession, UploadUsage,
} from "@stratus/core";
import * as blobs from "./dynamo-blobs.ts";
import type { DynamoContext } from "./dynamo-context.ts";
import { DEFAULT_RETRY, DynamoIo, type RetryPolicy } from "./dynamo-io.ts";
import * as manifests from "./dynamo-manifests.ts";
import * as repositoryDelete from "./dynamo-repository-delete.ts";
import * as repositories from "./dynamo-repositories.ts";
import * as uploads from "./dynamo-uploads.ts";
import type { ManifestOverflow } from "./manifest-overflow.ts";

// The MetadataStore port on one DynamoDB table (docs/dynamodb.md: key schema, access patterns and
// the capacity units of every operation). The work is in dynamo-blobs, dynamo-uploads,
// dynamo-manifests, dynamo-repositories and dynamo-repository-delete; this class wires them to the port.

export interface DynamoMetadataStoreOptions {
  /** Configure retries here (maxAttempts, retryMode): the SDK retries throttling and 5xx before the store sees them. */
  client: DynamoDBClient;
  tableName: string;
  /** Where manifests too large for an item go; without it they are refused with 413. */
  overflow?: ManifestOverflow;
  clock?: Clock;
  /**
   * An upload session item expires (TTL attribute) this long after its last update: a backstop only.
   * Make it far longer than core's uploadTtlSeconds plus the sweep interval, so the sweep removes the
   * session first, staged bytes and counters with it (a TTL deletion counts nothing out:
   * dynamo-uploads.ts). Default eight days (core's default TTL is one).
   */
  sessionTtlSeconds?: number;
  /** Manifests whose bytes plus annotations exceed this go to `overflow`. Default 256 KiB (items stop at 400 KB). */
  inlineManifestBytes?: number;
  /** Read-then-write attempts under contention before a 503. */
  retry?: Partial<RetryPolicy>;
}

const MAX_INLINE_MANIFEST_BYTES = 300 * 1024;

export class DynamoMetadataStore implements MetadataStore {
  private readonly ctx: DynamoContext;

  constructor(options: DynamoMetadataStoreOptions) {
    const inlineManifestBytes = options.inlineManifestBytes ?? 256 * 1024;
    if (inlineManifestBytes > MAX_INLINE_MANIFEST_BYTES) {
      // The manifest item also carries its tag set and attributes; the rest of 400 KB is their room.
      throw new Error(`inlineManifestBytes ${inlineManifestBytes} is over ${MAX_INLINE_MANIFEST_BYTES}: the item would not fit DynamoDB's 400 KB`);
    }
    const doc = DynamoDBDocumentClient.from(options.client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    this.ctx = {
      io: new DynamoIo(doc, options.tableName, { ...DEFAULT_RETRY, ...options.retry }),
      table: options.tableName,
      clock: options.clock ?? { now: () => Date.now() },
      inlineManifestBytes,
      overflow: options.overflow,
      sessionTtlSeconds: options.sessionTtlSeconds ?? 8 * 24 * 3600,
    };
  }

  findBlob(tenant: TenantId, digest: Digest): Promise<BlobRecord | undefined> {
    return blobs.findBlob(this.ctx, tenant, digest);
  }
  findLinkedBlob(repository: RepositoryName, digest: Digest): Promise<BlobRecord | undefined> {
    return blobs.findLinkedBlob(this.ctx, repository, digest);
  }
  commitBlob(tenant: TenantId, repository: RepositoryName, blob: BlobRecord, limits?: TenantLimits, upload?: UploadId): Promise<QuotaOutcome> {
    return blobs.commitBlob(this.ctx, tenant, repository, blob, limits, upload);
  }
  linkBlob(
    tenant: TenantId, repository: RepositoryName, digest: Digest, limits?: TenantLimits,
  ): Promise<{ ok: true; blob: BlobRecord } | QuotaExceeded | undefined> {
    return blobs.linkBlob(this.ctx, tenant, repository, digest, limits);
  }
  unlinkBlob(tenant: TenantId, repository: RepositoryName, digest: Digest): Promise<{ unlinked: boolean; orphan?: BlobRecord }> {
    return blobs.unlinkBlob(this.ctx, tenant, repository, digest);
  }

  createUpload(session: UploadSession, limits?: TenantLimits): Promise<QuotaOutcome> {
    return uploads.createUpload(this.ctx, session, limits);
  }
  getUpload(id: UploadId): Promise<UploadSession | undefined> {
    return uploads.getUpload(this.ctx, id);
  }
  updateUpload(session: UploadSession, expectedSize: number, limits?: TenantLimits): Promise<boolean | QuotaExceeded> {
    return uploads.updateUpload(this.ctx, session, expectedSize, limits);
  }
  deleteUpload(id: UploadId): Promise<void> {
    return uploads.deleteUpload(this.ctx, id);
  }
  listIdleUploads(before: number, limit: number): Promise<UploadSession[]> {
    return uploads.listIdleUploads(this.ctx, before, limit);
  }
  uploadUsage(tenant: TenantId): Promise<UploadUsage> {
    return uploads.uploadUsage(this.ctx, tenant);
  }

  putManifest(tenant: TenantId, manifest: ManifestRecord, tags: Tag[], limits?: TenantLimits): Promise<QuotaOutcome> {
    return manifests.putManifest(this.ctx, tenant, manifest, tags, limits);
  }
  getManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | undefined> {
    return manifests.getManifest(this.ctx, repository, reference);
  }
  deleteManifest(repository: RepositoryName, digest: Digest): Promise<boolean> {
    return manifests.deleteManifest(this.ctx, repository, digest);
  }
  deleteTag(repository: RepositoryName, tag: Tag): Promise<boolean> {
    return manifests.deleteTag(this.ctx, repository, tag);
  }
  listTags(repository: RepositoryName, page: PageRequest): Promise<Page | undefined> {
    return repositories.listTags(this.ctx, repository, page);
  }
  listRepositories(page: PageRequest, prefix?: string): Promise<Page> {
    return repositories.listRepositories(this.ctx, page, prefix);
  }
  listManifests(repository: RepositoryName, page: PageRequest): Promise<{ items: ManifestSummary[]; more: boolean }> {
    return manifests.listManifests(this.ctx, repository, page);
  }
  listReferrers(repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]> {
    return manifests.listReferrers(this.ctx, repository, subject);
  }
  repositoryExists(repository: RepositoryName): Promise<boolean> {
    return repositories.repositoryExists(this.ctx, repository);
  }
  deleteRepository(tenant: TenantId, repository: RepositoryName): Promise<{ deleted: boolean; orphans: BlobRecord[] }> {
    return repositoryDelete.deleteRepository(this.ctx, tenant, repository);
  }

  tenantUsage(tenant: TenantId): Promise<TenantUsage> {
    return repositories.tenantUsage(this.ctx, tenant);
  }
  manifestCount(repository: RepositoryName): Promise<number> {
    return repositories.manifestCount(this.ctx, repository);
  }
}
