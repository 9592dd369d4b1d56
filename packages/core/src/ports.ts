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
   */
  commitBlob(tenant: TenantId, repository: RepositoryName, blob: BlobRecord): Promise<void>;
  /** Links a blob the tenant already has to the repository (mount); undefined if the tenant has no such blob. */
  linkBlob(tenant: TenantId, repository: RepositoryName, digest: Digest): Promise<BlobRecord | undefined>;
  /**
   * Unlinks a blob from the repository. When no repository of the tenant links it any more, its record
   * is removed in the same transaction and returned as `orphan`, for core to delete the bytes.
   */
  unlinkBlob(tenant: TenantId, repository: RepositoryName, digest: Digest): Promise<{ unlinked: boolean; orphan?: BlobRecord }>;

  // Upload sessions.
  createUpload(session: UploadSession): Promise<void>;
  getUpload(id: UploadId): Promise<UploadSession | undefined>;
  /** Saves a session's new size and staging only if its stored size is still `expectedSize`; false otherwise. */
  updateUpload(session: UploadSession, expectedSize: number): Promise<boolean>;
  deleteUpload(id: UploadId): Promise<void>;
  /** Sessions not updated since `before` (epoch ms), oldest first, at most `limit`. */
  listIdleUploads(before: number, limit: number): Promise<UploadSession[]>;

  // Manifests and tags. Putting a manifest with tags is one transaction.
  /**
   * Stores the manifest (keeping createdAt of an existing one with that digest), points the tags at it,
   * creates the repository (owned by `tenant`) and counts the manifest in the usage figures, atomically.
   */
  putManifest(tenant: TenantId, manifest: ManifestRecord, tags: Tag[]): Promise<void>;
  getManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | undefined>;
  /** Deletes the manifest and every tag that points at it; false if there was none. */
  deleteManifest(repository: RepositoryName, digest: Digest): Promise<boolean>;
  /** Deletes the tag only; false if there was none. */
  deleteTag(repository: RepositoryName, tag: Tag): Promise<boolean>;
  /** Tags in lexical order; undefined when the repository is unknown. */
  listTags(repository: RepositoryName, page: PageRequest): Promise<Page | undefined>;
  /** Repositories in lexical order. */
  listRepositories(page: PageRequest): Promise<Page>;
  /** Manifests in the repository whose subject is `subject`, ordered by digest. */
  listReferrers(repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]>;
  repositoryExists(repository: RepositoryName): Promise<boolean>;

  // Usage, kept exact as content is committed and deleted (quotas read it).
  /** Repositories of the tenant, and its stored bytes: each distinct blob once, plus every manifest. */
  tenantUsage(tenant: TenantId): Promise<TenantUsage>;
  /** Manifests stored in the repository (0 when unknown). */
  manifestCount(repository: RepositoryName): Promise<number>;
}

export interface TenantUsage {
  repositories: number;
  storedBytes: number;
}

/** Thrown by adapters for failures of the storage itself; clients get 503 and retry. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

export type Action = "pull" | "push" | "delete";

/** What a request asks to do, for the authorizer: a repository and actions, or the registry itself. */
export type AccessRequest =
  | { kind: "registry" }
  | { kind: "catalog" }
  | { kind: "repository"; repository: RepositoryName; actions: Action[] };

export interface RequestContext {
  /** The peer's IP address, as the entry adapter saw it. */
  remoteAddress?: string;
  /** The request target exactly as received, before URL parsing resolved any dot segments. */
  rawTarget?: string;
}

export type AuthDecision =
  | { allowed: true; /** who, for logs; never a secret */ subject: string }
  | { allowed: false; status: 401 | 403; message: string; headers?: Record<string, string> };

/** Decides whether a request may proceed. Tenancy and tokens plug in here (issue: tenants and auth). */
export interface Authorizer {
  authorize(request: Request, access: AccessRequest, context: RequestContext): Promise<AuthDecision>;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}
