import Database from "better-sqlite3";
import { join } from "node:path";
import { StorageUnavailableError } from "@stratus/core";
import type {
  BlobRecord, Digest, ManifestRecord, ManifestReference, MetadataStore, Page, PageRequest, ReferrerRecord, RepositoryName, Tag,
  TenantId, TenantUsage, UploadId, UploadSession,
} from "@stratus/core";

// Metadata in one SQLite file (DESIGN.md "Local embedded default"). better-sqlite3 is synchronous,
// so every method runs to completion before another starts: concurrent pushes in one process are
// serialised by the event loop, and db.transaction makes multi-row changes atomic against crashes.

export type SqliteMetadataStoreOptions = { dataDir: string } | { path: string };

// Each entry moves the schema from version i to i + 1 (PRAGMA user_version). Append, never edit.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE repositories (name TEXT PRIMARY KEY) WITHOUT ROWID;
  CREATE TABLE blobs (
    tenant TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, location TEXT,
    PRIMARY KEY (tenant, digest)) WITHOUT ROWID;
  -- A repository belongs to one tenant, so a link names the blob by (tenant, digest).
  CREATE TABLE blob_links (
    repository TEXT NOT NULL, digest TEXT NOT NULL, tenant TEXT NOT NULL,
    PRIMARY KEY (repository, digest)) WITHOUT ROWID;
  CREATE INDEX blob_links_by_blob ON blob_links (tenant, digest);
  CREATE TABLE manifests (
    repository TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, bytes BLOB NOT NULL,
    subject TEXT, artifact_type TEXT, annotations TEXT, created_at INTEGER NOT NULL,
    PRIMARY KEY (repository, digest));
  CREATE INDEX manifests_by_subject ON manifests (repository, subject, digest) WHERE subject IS NOT NULL;
  CREATE TABLE tags (
    repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (repository, tag)) WITHOUT ROWID;
  CREATE INDEX tags_by_digest ON tags (repository, digest);
  CREATE TABLE uploads (
    id TEXT PRIMARY KEY, repository TEXT NOT NULL, tenant TEXT NOT NULL, size INTEGER NOT NULL,
    staging TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX uploads_by_idle ON uploads (updated_at, id);
  `,
  // Resumable hashing: the upload's SHA-256 state travels with its session.
  `ALTER TABLE uploads ADD COLUMN hash_state TEXT;`,
  // Usage per tenant: a repository records its owner.
  `ALTER TABLE repositories ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
   CREATE INDEX repositories_by_tenant ON repositories (tenant);`,
];

interface BlobRow { digest: string; size: number; location: string | null }
interface ManifestRow {
  repository: string; digest: string; media_type: string; bytes: Buffer;
  subject: string | null; artifact_type: string | null; annotations: string | null; created_at: number;
}
interface ReferrerRow { digest: string; media_type: string; size: number; artifact_type: string | null; annotations: string | null }
interface UploadRow {
  id: string; repository: string; tenant: string; size: number; staging: string; hash_state: string | null; created_at: number; updated_at: number;
}

export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database;
  private readonly sql: ReturnType<typeof prepare>;

  constructor(options: SqliteMetadataStoreOptions) {
    const path = "path" in options ? options.path : join(options.dataDir, "metadata.db");
    this.db = guard("open metadata", () => new Database(path));
    guard("open metadata", () => {
      this.db.pragma("journal_mode = WAL");
      // FULL: a commit survives power loss, not only a process crash; the registry has told the client "201".
      this.db.pragma("synchronous = FULL");
      // Another process (the CLI, say) holding the write lock: wait rather than fail at once.
      this.db.pragma("busy_timeout = 5000");
      migrate(this.db);
    });
    this.sql = prepare(this.db);
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

  async commitBlob(tenant: TenantId, repository: RepositoryName, blob: BlobRecord): Promise<void> {
    guard("commit blob", () =>
      this.db.transaction(() => {
        this.sql.insertBlob.run(tenant, blob.digest, blob.size, blob.location ?? null);
        this.sql.insertRepository.run(repository, tenant);
        this.sql.insertLink.run(repository, blob.digest, tenant);
      })(),
    );
  }

  async linkBlob(tenant: TenantId, repository: RepositoryName, digest: Digest): Promise<BlobRecord | undefined> {
    return guard("link blob", () =>
      this.db.transaction(() => {
        const blob = toBlob(this.sql.findBlob.get(tenant, digest) as BlobRow | undefined);
        if (!blob) return undefined;
        this.sql.insertRepository.run(repository, tenant);
        this.sql.insertLink.run(repository, digest, tenant);
        return blob;
      })(),
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

  async createUpload(session: UploadSession): Promise<void> {
    guard("create upload", () =>
      this.sql.insertUpload.run(
        session.id, session.repository, session.tenant, session.size,
        JSON.stringify(session.staging), session.hashState ?? null, session.createdAt, session.updatedAt,
      ),
    );
  }

  async getUpload(id: UploadId): Promise<UploadSession | undefined> {
    return guard("get upload", () => toUpload(this.sql.getUpload.get(id) as UploadRow | undefined));
  }

  async updateUpload(session: UploadSession, expectedSize: number): Promise<boolean> {
    return guard("update upload", () =>
      this.sql.updateUpload.run(session.size, JSON.stringify(session.staging), session.hashState ?? null, session.updatedAt, session.id, expectedSize).changes > 0,
    );
  }

  async deleteUpload(id: UploadId): Promise<void> {
    guard("delete upload", () => this.sql.deleteUpload.run(id));
  }

  async listIdleUploads(before: number, limit: number): Promise<UploadSession[]> {
    return guard("list uploads", () =>
      (this.sql.idleUploads.all(before, limit) as UploadRow[]).map((row) => toUpload(row)!),
    );
  }

  async putManifest(tenant: TenantId, manifest: ManifestRecord, tags: Tag[]): Promise<void> {
    const m = manifest;
    guard("put manifest", () =>
      this.db.transaction(() => {
        // A manifest can arrive before any blob is linked (an index of manifests pushed by digest only).
        this.sql.insertRepository.run(m.repository, tenant);
        this.sql.upsertManifest.run(
          m.repository, m.digest, m.mediaType, toBuffer(m.bytes), m.subject ?? null, m.artifactType ?? null,
          m.annotations === undefined ? null : JSON.stringify(m.annotations), m.createdAt,
        );
        for (const tag of tags) this.sql.upsertTag.run(m.repository, tag, m.digest);
      })(),
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

  async listRepositories(page: PageRequest): Promise<Page> {
    return guard("list repositories", () =>
      toPage(this.sql.listRepositories.all(page.after ?? "", page.limit + 1) as string[], page.limit),
    );
  }

  async tenantUsage(tenant: TenantId): Promise<TenantUsage> {
    // Computed from the rows themselves, in one read transaction: exact by construction.
    return guard("read usage", () =>
      this.db.transaction(() => ({
        repositories: this.sql.countRepositories.get(tenant) as number,
        storedBytes: (this.sql.blobBytes.get(tenant) as number) + (this.sql.manifestBytes.get(tenant) as number),
      }))(),
    );
  }

  async manifestCount(repository: RepositoryName): Promise<number> {
    return guard("count manifests", () => this.sql.manifestCount.get(repository) as number);
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
}

function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(`metadata.db has schema version ${version}, newer than this Stratus knows (${MIGRATIONS.length})`);
  }
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
}

/** Every statement, prepared once at open. */
function prepare(db: Database.Database) {
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
    countRepositories: s("SELECT count(*) FROM repositories WHERE tenant = ?").pluck(),
    blobBytes: s("SELECT coalesce(sum(size), 0) FROM blobs WHERE tenant = ?").pluck(),
    manifestBytes: s(`SELECT coalesce(sum(length(m.bytes)), 0) FROM manifests m
      JOIN repositories r ON r.name = m.repository WHERE r.tenant = ?`).pluck(),
    manifestCount: s("SELECT count(*) FROM manifests WHERE repository = ?").pluck(),
    repositoryExists: s("SELECT 1 FROM repositories WHERE name = ?"),
    listRepositories: s("SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?").pluck(),
    insertUpload: s(`INSERT INTO uploads (id, repository, tenant, size, staging, hash_state, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    getUpload: s("SELECT * FROM uploads WHERE id = ?"),
    // The size condition makes a stale writer (a retried or racing PATCH) lose instead of overwrite.
    updateUpload: s("UPDATE uploads SET size = ?, staging = ?, hash_state = ?, updated_at = ? WHERE id = ? AND size = ?"),
    deleteUpload: s("DELETE FROM uploads WHERE id = ?"),
    idleUploads: s("SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at, id LIMIT ?"),
    // Same digest, same bytes: refresh the descriptive columns, keep the first push's created_at.
    upsertManifest: s(`INSERT INTO manifests (repository, digest, media_type, bytes, subject, artifact_type, annotations, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (repository, digest) DO UPDATE SET media_type = excluded.media_type, bytes = excluded.bytes,
        subject = excluded.subject, artifact_type = excluded.artifact_type, annotations = excluded.annotations`),
    manifestByDigest: s("SELECT * FROM manifests WHERE repository = ? AND digest = ?"),
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

function toUpload(row: UploadRow | undefined): UploadSession | undefined {
  if (!row) return undefined;
  return {
    id: row.id as UploadId,
    repository: row.repository as RepositoryName,
    tenant: row.tenant as TenantId,
    size: row.size,
    staging: JSON.parse(row.staging) as UploadSession["staging"],
    ...(row.hash_state !== null ? { hashState: row.hash_state } : {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
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

/** Fetched limit + 1 rows: the extra one only says whether there is more. */
function toPage(items: string[], limit: number): Page {
  return items.length > limit ? { items: items.slice(0, limit), more: true } : { items, more: false };
}

/** SQLite failures (disk full, I/O error, locked past busy_timeout, corrupt file) become StorageUnavailableError. */
function guard<T>(what: string, body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof Database.SqliteError) throw new StorageUnavailableError(`${what}: ${error.code}`, { cause: error });
    throw error;
  }
}
