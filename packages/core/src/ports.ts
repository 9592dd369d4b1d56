import type { Digest } from "./oci/digest.ts";
import type { RepositoryName, Tag } from "./oci/names.ts";

// The only doors out of core. Storage adapters (storage-local, storage-aws) implement BlobStore and
// MetadataStore; entry adapters (server, lambda) supply an Authorizer. Each port has one contract
// suite in test/contracts/ that every adapter must pass.
//
// Adapters translate their own failures (ENOENT, SQLITE_CONSTRAINT, ConditionalCheckFailed, NoSuchKey)
// into the outcomes below; no storage error name reaches a service. A failure the adapter cannot
// place (disk full, network down) is thrown as StorageUnavailableError, which clients see as a
// retryable 503.

/** Tenant namespace that owns blobs: blobs are deduplicated within a tenant, never across tenants. */
export type TenantId = string & { readonly __brand: "TenantId" };
export type UploadId = string & { readonly __brand: "UploadId" };

/** Inclusive byte range, as in HTTP Range: bytes=start-end. */
export interface ByteRange {
  start: number;
  end: number;
}

/** How a committed blob's bytes reach the client. */
export type BlobContent =
  /** size is the whole blob's; range, when asked for, is what body holds (end capped at size - 1). */
  | { kind: "stream"; body: ReadableStream<Uint8Array>; size: number; range?: ByteRange }
  /** The client fetches the bytes elsewhere (a presigned S3 URL); range handled there. */
  | { kind: "redirect"; url: string };

/**
 * Adapter-owned state of an upload's staged bytes (an S3 multipart id and part list, say).
 * Core stores it in the upload session between requests and hands it back; it must be JSON.
 */
export type StagingState = Record<string, unknown>;

/** Result of appending to a staged upload: how many bytes are durably staged after it. */
export type AppendResult =
  | { ok: true; size: number; staging: StagingState }
  /** The source failed part way (client gone): size is what is durably staged, so the client can resume there. */
  | { ok: false; size: number; staging: StagingState; cause: unknown };

export interface BlobStore {
  /** Starts staging a new upload. */
  createUpload(id: UploadId, tenant: TenantId): Promise<StagingState>;
  /**
   * Appends the source's bytes at `offset` (always the current staged size). Streams in constant memory.
   * Core never runs two appends on one upload at once (UploadService holds it exclusively).
   * A source that throws yields { ok: false } with the durable size; storage failures throw.
   */
  appendUpload(id: UploadId, staging: StagingState, offset: number, source: AsyncIterable<Uint8Array>): Promise<AppendResult>;
  /** The staged bytes from the start, to rebuild a hash state lost with a process. */
  readUpload(id: UploadId, staging: StagingState, size: number): AsyncIterable<Uint8Array>;
  /**
   * Makes the staged bytes (already verified by core to hash to `digest`) the tenant's blob, atomically:
   * there is never a partial blob under a digest. If the tenant already has the blob, keeps that one.
   * Returns where the blob lives, for adapters that address blobs by more than digest; core stores it in BlobRecord.
   */
  commitUpload(id: UploadId, staging: StagingState, tenant: TenantId, digest: Digest, size: number): Promise<{ location?: string }>;
  /** Discards staged bytes; idempotent. */
  deleteUpload(id: UploadId, staging: StagingState): Promise<void>;

  /** Bytes of a committed blob; undefined if they are gone. */
  open(tenant: TenantId, blob: BlobRecord, range?: ByteRange): Promise<BlobContent | undefined>;
  /**
   * Optional: a URL that answers HEAD for a committed blob with its true Content-Length (a presigned
   * S3 HeadObject), for fronts that drop a HEAD answer's Content-Length (config blobHeadRedirect);
   * undefined if the bytes are gone.
   */
  headUrl?(tenant: TenantId, blob: BlobRecord): Promise<string | undefined>;
  /** Removes a committed blob's bytes; idempotent. */
  delete(tenant: TenantId, blob: BlobRecord): Promise<void>;
}

export interface BlobRecord {
  digest: Digest;
  size: number;
  /** Adapter-specific location returned by commitUpload, if any. */
  location?: string;
}

export interface UploadSession {
  id: UploadId;
  repository: RepositoryName;
  tenant: TenantId;
  /** Bytes durably staged so far. */
  size: number;
  staging: StagingState;
  /** Saved SHA-256 state of the staged bytes (resumable hashing), absent when kept in process memory. */
  hashState?: string;
  /** Epoch milliseconds. */
  createdAt: number;
  updatedAt: number;
}

export interface ManifestRecord {
  repository: RepositoryName;
  digest: Digest;
  mediaType: string;
  /** Exactly as pushed. */
  bytes: Uint8Array;
  /** Referrers API: the subject's digest, the artifact type and annotations of this manifest. */
  subject?: Digest;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Epoch milliseconds of the first push. */
  createdAt: number;
}

export type ManifestReference = { kind: "tag"; tag: Tag } | { kind: "digest"; digest: Digest };

/** One page of a lexically ordered listing: `after` is exclusive, `limit` at least 1. */
export interface PageRequest {
  limit: number;
  after?: string;
}
export interface Page {
  items: string[];
  /** True when items after the last one returned exist. */
  more: boolean;
}

/** A manifest whose subject is a given digest, as the referrers API lists it. */
export interface ReferrerRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface MetadataStore {
  // Blobs. A blob belongs to a tenant; a repository can read it once it is linked there.
  /** The tenant's blob, linked to any repository or none. */
  findBlob(tenant: TenantId, digest: Digest): Promise<BlobRecord | undefined>;
  /** The blob if it is linked to this repository (one read: blob HEAD and GET). */
  findLinkedBlob(repository: RepositoryName, digest: Digest): Promise<BlobRecord | undefined>;
  /**
   * Records the tenant's blob (keeping an existing record) and links it to the repository, creating the
   * repository (owned by `tenant`). The blob's size counts once in the tenant's stored bytes.
   * With `limits`: refused when it would create a repository while the tenant has `repositories` already,
   * or add a blob new to the tenant whose size takes its stored bytes past `storedBytes` (a blob the tenant
   * has adds no bytes and is never refused for them). Checked in that order; see TenantLimits.
   * With `upload`, that session (the one whose staged bytes became this blob) is removed in the same
   * transaction, and its staged bytes are not counted beside the blob's: they become its stored bytes,
   * so a blob that exactly fills the plan commits.
   */
  commitBlob(tenant: TenantId, repository: RepositoryName, blob: BlobRecord, limits?: TenantLimits, upload?: UploadId): Promise<QuotaOutcome>;
  /**
   * Links a blob the tenant already has to the repository (mount), creating the repository;
   * undefined if the tenant has no such blob. With `limits`, creating the repository is checked as in commitBlob.
   */
  linkBlob(tenant: TenantId, repository: RepositoryName, digest: Digest, limits?: TenantLimits): Promise<{ ok: true; blob: BlobRecord } | QuotaExceeded | undefined>;
  /**
   * Unlinks a blob from the repository. When no repository of the tenant links it any more, its record
   * is removed in the same transaction and returned as `orphan`, for core to delete the bytes.
   */
  unlinkBlob(tenant: TenantId, repository: RepositoryName, digest: Digest): Promise<{ unlinked: boolean; orphan?: BlobRecord }>;

  // Upload sessions. The store counts each tenant's open sessions and their staged bytes (the
  // sessions' sizes) exactly, with the sessions they count (uploadUsage), so that staged bytes
  // cannot escape the plan: stored plus staged bytes stay within `storedBytes`.
  /** Stores a new session. With `limits`, refused when the tenant has `uploadSessions` open already. */
  createUpload(session: UploadSession, limits?: TenantLimits): Promise<QuotaOutcome>;
  getUpload(id: UploadId): Promise<UploadSession | undefined>;
  /**
   * Saves a session's new size and staging only if its stored size is still `expectedSize`; false
   * otherwise (stale, or gone). With `limits`, growing it is refused (QuotaExceeded, nothing saved)
   * when the tenant's stored plus staged bytes would pass `storedBytes`.
   */
  updateUpload(session: UploadSession, expectedSize: number, limits?: TenantLimits): Promise<boolean | QuotaExceeded>;
  /** Removes the session, counting it and its staged bytes out; idempotent. */
  deleteUpload(id: UploadId): Promise<void>;
  /** Sessions not updated since `before` (epoch ms), oldest first, at most `limit`. */
  listIdleUploads(before: number, limit: number): Promise<UploadSession[]>;
  /** The tenant's open sessions and staged bytes, with its stored bytes read in the same look. */
  uploadUsage(tenant: TenantId): Promise<UploadUsage>;

  // Manifests and tags. Putting a manifest with tags is one transaction.
  /**
   * Stores the manifest (keeping createdAt of an existing one with that digest), points the tags at it,
   * creates the repository (owned by `tenant`) and counts the manifest in the usage figures, atomically.
   * With `limits`, a manifest new to the repository is refused when the repository would be new past
   * `repositories`, when the repository has `manifestsPerRepository` manifests already, or when its size
   * takes the stored bytes past `storedBytes` (checked in that order). A digest the repository has adds
   * nothing and is never refused (its tags are set).
   */
  putManifest(tenant: TenantId, manifest: ManifestRecord, tags: Tag[], limits?: TenantLimits): Promise<QuotaOutcome>;
  getManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | undefined>;
  /** Deletes the manifest and every tag that points at it; false if there was none. */
  deleteManifest(repository: RepositoryName, digest: Digest): Promise<boolean>;
  /** Deletes the tag only; false if there was none. */
  deleteTag(repository: RepositoryName, tag: Tag): Promise<boolean>;
  /** Tags in lexical order; undefined when the repository is unknown. */
  listTags(repository: RepositoryName, page: PageRequest): Promise<Page | undefined>;
  /** Repositories in lexical order; with `prefix`, only names starting with it (a tenant's: "acme/"). */
  listRepositories(page: PageRequest, prefix?: string): Promise<Page>;
  /**
   * The repository's manifests ordered by digest (`after` is a digest), each with the tags pointing at it
   * now, in lexical order: admin listings. An unknown repository has none.
   */
  listManifests(repository: RepositoryName, page: PageRequest): Promise<{ items: ManifestSummary[]; more: boolean }>;
  /** Manifests in the repository whose subject is `subject`, ordered by digest. */
  listReferrers(repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]>;
  repositoryExists(repository: RepositoryName): Promise<boolean>;
  /**
   * Deletes the tenant's repository with everything in it (ECR's DeleteRepository with force): its
   * manifests, tags, referrer entries and blob links, then the repository itself (catalog entry and
   * marker). The tenant's figures go down by what went: repositories by one, stored bytes by the
   * repository's manifests and by the blobs no other repository of the tenant links. Those blobs'
   * records go too, and they are returned as `orphans` (each once), for core to delete their bytes, as
   * unlinkBlob does; a blob another repository links stays, readable there and counted once.
   * `deleted` is false, and nothing is done, when the tenant has no such repository.
   *
   * Atomicity is the store's:
   * - SQLite does all of it in one transaction: it happens entirely or not at all.
   * - DynamoDB cannot: a repository can hold far more items than one TransactWriteItems (100). It
   *   deletes the content with the per-item operations (deleteManifest, unlinkBlob: each one
   *   transaction that keeps every counter exact), then removes the marker and catalog entry and counts
   *   the repository out in one last transaction, conditional on nothing having been added since it
   *   looked (else it looks again and deletes what came). So every counter is exact after every step;
   *   a failure part way leaves the repository existing with part of its content (calling again
   *   finishes the job; orphans of the failed call are then lost to core, their bytes left behind).
   * A push racing the delete either lands before the repository goes (and is deleted with it) or
   * after (and creates the repository again, counted once).
   */
  deleteRepository(tenant: TenantId, repository: RepositoryName): Promise<{ deleted: boolean; orphans: BlobRecord[] }>;

  // Usage, kept exact as content is committed and deleted; deleting content gives its room back at once.
  /** Repositories of the tenant, and its stored bytes: each distinct blob once, plus every manifest. */
  tenantUsage(tenant: TenantId): Promise<TenantUsage>;
  /** Manifests stored in the repository (0 when unknown). */
  manifestCount(repository: RepositoryName): Promise<number>;
}

export interface TenantUsage {
  repositories: number;
  storedBytes: number;
}

/** What bounds a tenant's uploads: open sessions, the bytes they have staged, and the stored bytes beside them. */
export interface UploadUsage {
  sessions: number;
  stagedBytes: number;
  storedBytes: number;
}

/** A manifest as the admin API lists it (like `az acr manifest list-metadata`). */
export interface ManifestSummary {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType?: string;
  tags: Tag[];
  /** Epoch milliseconds of the first push. */
  createdAt: number;
}

/**
 * A tenant's limits, as the store enforces them inside the transaction that would exceed them
 * (so racing pushes never pass a limit together: of N racing for the last room, the ones that fit
 * commit and the rest are refused). A change is refused when the figure after it would be over the
 * maximum (usage + added > max); reaching the maximum exactly is allowed. Only changes that add to a
 * figure are checked: relinking, re-pushing and deleting never are. Unlimited is Number.MAX_SAFE_INTEGER.
 */
export interface TenantLimits {
  repositories: number;
  /** Stored bytes, plus the bytes staged by the tenant's unfinished uploads: those count too. */
  storedBytes: number;
  manifestsPerRepository: number;
  /** Upload sessions open at once (started, neither finished, cancelled nor expired). */
  uploadSessions: number;
}
export type QuotaLimit = keyof TenantLimits;
/** The change was refused, and nothing of it written: it would take `limit` past `max`; `usage` is the current figure. */
export interface QuotaExceeded {
  ok: false;
  limit: QuotaLimit;
  max: number;
  usage: number;
  /**
   * storedBytes only, present when not 0: bytes staged by unfinished uploads, which counted beside
   * `usage` (the stored bytes) in the refusal.
   */
  stagedBytes?: number;
}
export type QuotaOutcome = { ok: true } | QuotaExceeded;

/** Thrown by adapters for failures of the storage itself; clients get 503 and retry. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

// Tenants, plans, keys and visibility (TenantStore, DeploymentStore), and what entry adapters supply
// (Authorizer, RequestContext), each in a file of its own; one import path for all ports.
export type * from "./tenant-ports.ts";
export type * from "./auth-ports.ts";

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}
