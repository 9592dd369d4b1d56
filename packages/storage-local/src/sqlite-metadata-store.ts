import type { SqliteDatabase } from "./sqlite-driver.ts";
import { join } from "node:path";
import { migrateMetadataSchema } from "./sqlite-metadata-schema.ts";
import { guard, openPrivateDatabase, toPage } from "./sqlite-support.ts";
import { SqliteUploads } from "./sqlite-uploads.ts";
import type {
  BlobRecord, Digest, ManifestRecord, ManifestReference, ManifestSummary, MetadataStore, Page, PageRequest, QuotaExceeded, QuotaOutcome,
  ReferrerRecord, RepositoryName, Tag, TenantId, TenantLimits, TenantUsage, UploadId, UploadSession, UploadUsage,
} from "@stratus/core";

// Metadata in one SQLite file (DESIGN.md "Local embedded default"). better-sqlite3 is synchronous,
// so every method runs to completion before another starts: concurrent pushes in one process are
// serialised by the event loop, and db.transaction makes multi-row changes atomic against crashes.
//
// Quotas (DESIGN.md "Tenancy"): the usage figures are kept by triggers, in the same statement as the
// row they count, so they are exact by construction and cost one row read. A change under limits reads
// them and writes in one IMMEDIATE transaction: the write lock is taken before the check, so another
// process on the same file (a second server, the CLI) cannot slip a change in between.

export type SqliteMetadataStoreOptions = { dataDir: string } | { path: string };



interface BlobRow { digest: string; size: number; location: string | null }
interface ManifestRow {
  repository: string; digest: string; media_type: string; bytes: Buffer;
  subject: string | null; artifact_type: string | null; annotations: string | null; created_at: number;
}
interface SummaryRow { digest: string; media_type: string; size: number; artifact_type: string | null; created_at: number; tags: string }
interface UsageRow { repositories: number; stored_bytes: number }
interface ReferrerRow { digest: string; media_type: string; size: number; artifact_type: string | null; annotations: string | null }

export class SqliteMetadataStore implements MetadataStore {
  private readonly db: SqliteDatabase;
  private readonly sql: ReturnType<typeof prepare>;
  private readonly uploads: SqliteUploads;

  constructor(options: SqliteMetadataStoreOptions) {
    const path = "path" in options ? options.path : join(options.dataDir, "metadata.db");
    this.db = guard("open metadata", () => openPrivateDatabase(path));
    guard("open metadata", () => {
      this.db.pragma("journal_mode = WAL");
      // FULL: a commit survives power loss, not only a process crash; the registry has told the client "201".
      this.db.pragma("synchronous = FULL");
      // Another process (the CLI, say) holding the write lock: wait rather than fail at once.
      this.db.pragma("busy_timeout = 5000");
      migrateMetadataSchema(this.db);
    });
    this.sql = prepare(this.db);
    this.uploads = new SqliteUploads(this.db);
  }

  close(): void {
    this.db.close();
  }

  async findBlob(tenant: TenantId, digest: Digest): Promise<BlobRecord | undefined> {
    return guard("find blob", () => toBlob(this.sql.findBlob.get(tenant, digest) as BlobRow | undefined));
  }

  async findLinkedBlob(repository: RepositoryName, digest: Digest): Promise<BlobRecord | undefined> {
    return guard("find blob", () => toBlob(this.sql.findLinkedBlob.get(repository, digest) as BlobRow | undefined));
  }

  async commitBlob(tenant: TenantId, repository: RepositoryName, blob: BlobRecord, limits?: TenantLimits, upload?: UploadId): Promise<QuotaOutcome> {
    return guard("commit blob", () =>
      this.db.transaction((): QuotaOutcome => {
        if (limits) {
          const isNew = this.sql.findBlob.get(tenant, blob.digest) === undefined;
          const ownStaged = upload === undefined ? 0 : (this.uploads.sizeOf(upload) ?? 0);
          const refused = this.refusal(tenant, limits, { repository, bytes: isNew ? blob.size : 0, ownStaged });
          if (refused) return refused;
        }
        this.sql.insertBlob.run(tenant, blob.digest, blob.size, blob.location ?? null);
        this.sql.insertRepository.run(repository, tenant);
        this.sql.insertLink.run(repository, blob.digest, tenant);
        // Its staged bytes leave the count as the blob's enter it: never counted twice, never missing.
        if (upload !== undefined) this.uploads.delete(upload);
        return OK;
      }).immediate(),
    );
  }

  async linkBlob(
    tenant: TenantId, repository: RepositoryName, digest: Digest, limits?: TenantLimits,
  ): Promise<{ ok: true; blob: BlobRecord } | QuotaExceeded | undefined> {
    return guard("link blob", () =>
      this.db.transaction(() => {
        const blob = toBlob(this.sql.findBlob.get(tenant, digest) as BlobRow | undefined);
        if (!blob) return undefined;
        if (limits) {
          const refused = this.refusal(tenant, limits, { repository, bytes: 0 });
          if (refused) return refused;
        }
        this.sql.insertRepository.run(repository, tenant);
        this.sql.insertLink.run(repository, digest, tenant);
        return { ok: true as const, blob };
      }).immediate(),
    );
  }

  async unlinkBlob(tenant: TenantId, repository: RepositoryName, digest: Digest): Promise<{ unlinked: boolean; orphan?: BlobRecord }> {
    return guard("unlink blob", () =>
      this.db.transaction(() => {
        const unlinked = this.sql.deleteLink.run(repository, digest, tenant).changes > 0;
        if (!unlinked || this.sql.anyLink.get(tenant, digest) !== undefined) return { unlinked };
        const orphan = toBlob(this.sql.findBlob.get(tenant, digest) as BlobRow | undefined);
        this.sql.deleteBlob.run(tenant, digest);
        return orphan ? { unlinked, orphan } : { unlinked };
      })(),
    );
  }

  async createUpload(session: UploadSession, limits?: TenantLimits): Promise<QuotaOutcome> {
    return guard("create upload", () => this.uploads.create(session, limits));
  }

  async getUpload(id: UploadId): Promise<UploadSession | undefined> {
    return guard("get upload", () => this.uploads.get(id));
  }

  async updateUpload(session: UploadSession, expectedSize: number, limits?: TenantLimits): Promise<boolean | QuotaExceeded> {
    return guard("update upload", () => this.uploads.update(session, expectedSize, limits));
  }

  async deleteUpload(id: UploadId): Promise<void> {
    guard("delete upload", () => this.uploads.delete(id));
  }

  async listIdleUploads(before: number, limit: number): Promise<UploadSession[]> {
    return guard("list uploads", () => this.uploads.listIdle(before, limit));
  }

  async uploadUsage(tenant: TenantId): Promise<UploadUsage> {
    return guard("read usage", () => this.uploads.usage(tenant));
  }

  async putManifest(tenant: TenantId, manifest: ManifestRecord, tags: Tag[], limits?: TenantLimits): Promise<QuotaOutcome> {
    const m = manifest;
    return guard("put manifest", () =>
      this.db.transaction((): QuotaOutcome => {
        // A re-push of a stored digest adds nothing: never refused.
        if (limits && this.sql.manifestExists.get(m.repository, m.digest) === undefined) {
          const refused = this.refusal(tenant, limits, { repository: m.repository, bytes: m.bytes.byteLength, manifest: true });
          if (refused) return refused;
        }
        // A manifest can arrive before any blob is linked (an index of manifests pushed by digest only).
        this.sql.insertRepository.run(m.repository, tenant);
        this.sql.upsertManifest.run(
          m.repository, m.digest, m.mediaType, toBuffer(m.bytes), m.subject ?? null, m.artifactType ?? null,
          m.annotations === undefined ? null : JSON.stringify(m.annotations), m.createdAt,
        );
        for (const tag of tags) this.sql.upsertTag.run(m.repository, tag, m.digest);
        return OK;
      }).immediate(),
    );
  }

  async getManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | undefined> {
    return guard("get manifest", () => {
      const row = (reference.kind === "tag"
        ? this.sql.manifestByTag.get(repository, reference.tag)
        : this.sql.manifestByDigest.get(repository, reference.digest)) as ManifestRow | undefined;
      return row ? toManifest(row) : undefined;
    });
  }

  async deleteManifest(repository: RepositoryName, digest: Digest): Promise<boolean> {
    return guard("delete manifest", () =>
      this.db.transaction(() => {
        this.sql.deleteTagsOf.run(repository, digest);
        return this.sql.deleteManifest.run(repository, digest).changes > 0;
      })(),
    );
  }

  async deleteTag(repository: RepositoryName, tag: Tag): Promise<boolean> {
    return guard("delete tag", () => this.sql.deleteTag.run(repository, tag).changes > 0);
  }

  async listTags(repository: RepositoryName, page: PageRequest): Promise<Page | undefined> {
    return guard("list tags", () =>
      this.db.transaction(() => {
        if (this.sql.repositoryExists.get(repository) === undefined) return undefined;
        return toPage(this.sql.listTags.all(repository, page.after ?? "", page.limit + 1) as string[], page.limit);
      })(),
    );
  }

  async listRepositories(page: PageRequest, prefix = ""): Promise<Page> {
    // Names starting with the prefix are one range of the index: [prefix, prefix + U+10FFFF). Valid
    // names are ASCII, so none sorts past that bound; the substr test keeps the answer exact anyway.
    return guard("list repositories", () =>
      toPage(
        this.sql.listRepositories.all({
          after: page.after ?? "", prefix, upper: `${prefix}\u{10FFFF}`, length: [...prefix].length, limit: page.limit + 1,
        }) as string[],
        page.limit,
      ),
    );
  }

  async listManifests(repository: RepositoryName, page: PageRequest): Promise<{ items: ManifestSummary[]; more: boolean }> {
    return guard("list manifests", () => {
      const rows = this.sql.listManifests.all(repository, page.after ?? "", page.limit + 1) as SummaryRow[];
      const items = rows.slice(0, page.limit).map((row) => {
        const summary: ManifestSummary = {
          digest: row.digest as Digest,
          mediaType: row.media_type,
          size: row.size,
          tags: JSON.parse(row.tags) as Tag[],
          createdAt: row.created_at,
        };
        if (row.artifact_type !== null) summary.artifactType = row.artifact_type;
        return summary;
      });
      return { items, more: rows.length > page.limit };
    });
  }

  async tenantUsage(tenant: TenantId): Promise<TenantUsage> {
    return guard("read usage", () => this.usageOf(tenant));
  }

  async manifestCount(repository: RepositoryName): Promise<number> {
    return guard("count manifests", () => (this.sql.manifestCount.get(repository) as number | undefined) ?? 0);
  }

  async listReferrers(repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]> {
    return guard("list referrers", () =>
      (this.sql.referrers.all(repository, subject) as ReferrerRow[]).map(
        (row) => {
          const referrer: ReferrerRecord = { digest: row.digest as Digest, mediaType: row.media_type, size: row.size };
          if (row.artifact_type !== null) referrer.artifactType = row.artifact_type;
          if (row.annotations !== null) referrer.annotations = JSON.parse(row.annotations) as Record<string, string>;
          return referrer;
        },
      ),
    );
  }

  async repositoryExists(repository: RepositoryName): Promise<boolean> {
    return guard("find repository", () => this.sql.repositoryExists.get(repository) !== undefined);
  }

  /** One IMMEDIATE transaction: the repository goes whole, or not at all (ports.ts). */
  async deleteRepository(tenant: TenantId, repository: RepositoryName): Promise<{ deleted: boolean; orphans: BlobRecord[] }> {
    return guard("delete repository", () =>
      this.db.transaction(() => {
        if (this.sql.repositoryOwner.get(repository) !== tenant) return { deleted: false, orphans: [] };
        const linked = this.sql.linkedDigests.all(repository) as string[];
        this.sql.deleteTagsOfRepository.run(repository);
        // Manifests before the repository row: their trigger finds the owner to count them out through it.
        this.sql.deleteManifestsOfRepository.run(repository);
        this.sql.deleteLinksOfRepository.run(repository);
        const orphans: BlobRecord[] = [];
        for (const digest of linked) {
          if (this.sql.anyLink.get(tenant, digest) !== undefined) continue;
          const orphan = toBlob(this.sql.findBlob.get(tenant, digest) as BlobRow | undefined);
          if (!orphan) continue;
          this.sql.deleteBlob.run(tenant, digest);
          orphans.push(orphan);
        }
        this.sql.deleteRepository.run(repository);
        return { deleted: true, orphans };
      }).immediate(),
    );
  }

  private usageOf(tenant: TenantId): TenantUsage {
    const row = this.sql.tenantUsage.get(tenant) as UsageRow | undefined;
    return { repositories: row?.repositories ?? 0, storedBytes: row?.stored_bytes ?? 0 };
  }

  /**
   * The limit a change would pass, checked in the order repositories, manifests, stored bytes; run
   * inside the change's transaction. `bytes` is what the change adds to the tenant's stored bytes (0
   * for a blob it has), which with the bytes staged by its uploads must stay within the limit;
   * `ownStaged` is staged by the session becoming the blob; `manifest` means a manifest new to the repository.
   */
  private refusal(
    tenant: TenantId, limits: TenantLimits, change: { repository: RepositoryName; bytes: number; manifest?: boolean; ownStaged?: number },
  ): QuotaExceeded | undefined {
    const usage = this.usageOf(tenant);
    const isNewRepository = this.sql.repositoryExists.get(change.repository) === undefined;
    if (isNewRepository && usage.repositories + 1 > limits.repositories) {
      return { ok: false, limit: "repositories", max: limits.repositories, usage: usage.repositories };
    }
    if (change.manifest) {
      const manifests = (this.sql.manifestCount.get(change.repository) as number | undefined) ?? 0;
      if (manifests + 1 > limits.manifestsPerRepository) {
        return { ok: false, limit: "manifestsPerRepository", max: limits.manifestsPerRepository, usage: manifests };
      }
    }
    return this.uploads.bytesRefusal(tenant, limits, change.bytes, change.ownStaged ?? 0);
  }
}

const OK: QuotaOutcome = { ok: true };


/** Every statement, prepared once at open. */
function prepare(db: SqliteDatabase) {
  const s = (sql: string) => db.prepare(sql);
  return {
    findBlob: s("SELECT digest, size, location FROM blobs WHERE tenant = ? AND digest = ?"),
    findLinkedBlob: s(`SELECT b.digest, b.size, b.location FROM blob_links l
      JOIN blobs b ON b.tenant = l.tenant AND b.digest = l.digest WHERE l.repository = ? AND l.digest = ?`),
    insertBlob: s("INSERT INTO blobs (tenant, digest, size, location) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
    deleteBlob: s("DELETE FROM blobs WHERE tenant = ? AND digest = ?"),
    insertLink: s("INSERT INTO blob_links (repository, digest, tenant) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
    deleteLink: s("DELETE FROM blob_links WHERE repository = ? AND digest = ? AND tenant = ?"),
    anyLink: s("SELECT 1 FROM blob_links WHERE tenant = ? AND digest = ? LIMIT 1"),
    insertRepository: s("INSERT INTO repositories (name, tenant) VALUES (?, ?) ON CONFLICT DO NOTHING"),
    tenantUsage: s("SELECT repositories, stored_bytes FROM tenant_usage WHERE tenant = ?"),
    manifestCount: s("SELECT manifests FROM repositories WHERE name = ?").pluck(),
    repositoryExists: s("SELECT 1 FROM repositories WHERE name = ?"),
    repositoryOwner: s("SELECT tenant FROM repositories WHERE name = ?").pluck(),
    deleteRepository: s("DELETE FROM repositories WHERE name = ?"),
    linkedDigests: s("SELECT digest FROM blob_links WHERE repository = ?").pluck(),
    deleteLinksOfRepository: s("DELETE FROM blob_links WHERE repository = ?"),
    deleteManifestsOfRepository: s("DELETE FROM manifests WHERE repository = ?"),
    deleteTagsOfRepository: s("DELETE FROM tags WHERE repository = ?"),
    listRepositories: s(`SELECT name FROM repositories
      WHERE name > @after AND name >= @prefix AND name < @upper AND substr(name, 1, @length) = @prefix ORDER BY name LIMIT @limit`).pluck(),
    // Same digest, same bytes: refresh the descriptive columns, keep the first push's created_at.
    upsertManifest: s(`INSERT INTO manifests (repository, digest, media_type, bytes, subject, artifact_type, annotations, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (repository, digest) DO UPDATE SET media_type = excluded.media_type, bytes = excluded.bytes,
        subject = excluded.subject, artifact_type = excluded.artifact_type, annotations = excluded.annotations`),
    manifestByDigest: s("SELECT * FROM manifests WHERE repository = ? AND digest = ?"),
    manifestExists: s("SELECT 1 FROM manifests WHERE repository = ? AND digest = ?"),
    listManifests: s(`SELECT m.digest, m.media_type, length(m.bytes) AS size, m.artifact_type, m.created_at,
        (SELECT json_group_array(t.tag ORDER BY t.tag) FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest) AS tags
      FROM manifests m WHERE m.repository = ? AND m.digest > ? ORDER BY m.digest LIMIT ?`),
    manifestByTag: s(`SELECT m.* FROM tags t JOIN manifests m ON m.repository = t.repository AND m.digest = t.digest
      WHERE t.repository = ? AND t.tag = ?`),
    deleteManifest: s("DELETE FROM manifests WHERE repository = ? AND digest = ?"),
    upsertTag: s("INSERT INTO tags (repository, tag, digest) VALUES (?, ?, ?) ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest"),
    deleteTag: s("DELETE FROM tags WHERE repository = ? AND tag = ?"),
    deleteTagsOf: s("DELETE FROM tags WHERE repository = ? AND digest = ?"),
    listTags: s("SELECT tag FROM tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ?").pluck(),
    referrers: s(`SELECT digest, media_type, length(bytes) AS size, artifact_type, annotations FROM manifests
      WHERE repository = ? AND subject = ? ORDER BY digest`),
  };
}

function toBlob(row: BlobRow | undefined): BlobRecord | undefined {
  if (!row) return undefined;
  const blob: BlobRecord = { digest: row.digest as Digest, size: row.size };
  if (row.location !== null) blob.location = row.location;
  return blob;
}

function toManifest(row: ManifestRow): ManifestRecord {
  const manifest: ManifestRecord = {
    repository: row.repository as RepositoryName,
    digest: row.digest as Digest,
    mediaType: row.media_type,
    // A plain Uint8Array view of the row's Buffer: no copy, and no Buffer-only API leaks to core.
    bytes: new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength),
    createdAt: row.created_at,
  };
  if (row.subject !== null) manifest.subject = row.subject as Digest;
  if (row.artifact_type !== null) manifest.artifactType = row.artifact_type;
  if (row.annotations !== null) manifest.annotations = JSON.parse(row.annotations) as Record<string, string>;
  return manifest;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
