import type { SqliteDatabase } from "./sqlite-driver.ts";

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
  // Quotas: usage counters kept by triggers (a repository's manifests; a tenant's repositories and
  // stored bytes: each blob once, plus every manifest), filled from the rows already there. A
  // manifest's bytes count for the owner of its repository: delete a repository's manifests before
  // its row.
  `CREATE TABLE tenant_usage (
     tenant TEXT PRIMARY KEY, repositories INTEGER NOT NULL DEFAULT 0, stored_bytes INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
   ALTER TABLE repositories ADD COLUMN manifests INTEGER NOT NULL DEFAULT 0;
   INSERT INTO tenant_usage (tenant, repositories) SELECT tenant, count(*) FROM repositories GROUP BY tenant;
   INSERT OR IGNORE INTO tenant_usage (tenant) SELECT DISTINCT tenant FROM blobs;
   UPDATE tenant_usage SET stored_bytes =
     (SELECT coalesce(sum(b.size), 0) FROM blobs b WHERE b.tenant = tenant_usage.tenant) +
     (SELECT coalesce(sum(length(m.bytes)), 0) FROM manifests m JOIN repositories r ON r.name = m.repository WHERE r.tenant = tenant_usage.tenant);
   UPDATE repositories SET manifests = (SELECT count(*) FROM manifests m WHERE m.repository = repositories.name);
   CREATE TRIGGER repository_added AFTER INSERT ON repositories BEGIN
     INSERT INTO tenant_usage (tenant, repositories) VALUES (NEW.tenant, 1)
       ON CONFLICT (tenant) DO UPDATE SET repositories = repositories + 1;
   END;
   CREATE TRIGGER repository_removed AFTER DELETE ON repositories BEGIN
     UPDATE tenant_usage SET repositories = repositories - 1 WHERE tenant = OLD.tenant;
   END;
   CREATE TRIGGER blob_added AFTER INSERT ON blobs BEGIN
     INSERT INTO tenant_usage (tenant, stored_bytes) VALUES (NEW.tenant, NEW.size)
       ON CONFLICT (tenant) DO UPDATE SET stored_bytes = stored_bytes + excluded.stored_bytes;
   END;
   CREATE TRIGGER blob_removed AFTER DELETE ON blobs BEGIN
     UPDATE tenant_usage SET stored_bytes = stored_bytes - OLD.size WHERE tenant = OLD.tenant;
   END;
   CREATE TRIGGER manifest_added AFTER INSERT ON manifests BEGIN
     UPDATE repositories SET manifests = manifests + 1 WHERE name = NEW.repository;
     UPDATE tenant_usage SET stored_bytes = stored_bytes + length(NEW.bytes)
       WHERE tenant = (SELECT tenant FROM repositories WHERE name = NEW.repository);
   END;
   CREATE TRIGGER manifest_rewritten AFTER UPDATE OF bytes ON manifests BEGIN
     UPDATE tenant_usage SET stored_bytes = stored_bytes + length(NEW.bytes) - length(OLD.bytes)
       WHERE tenant = (SELECT tenant FROM repositories WHERE name = NEW.repository);
   END;
   CREATE TRIGGER manifest_removed AFTER DELETE ON manifests BEGIN
     UPDATE repositories SET manifests = manifests - 1 WHERE name = OLD.repository;
     UPDATE tenant_usage SET stored_bytes = stored_bytes - length(OLD.bytes)
       WHERE tenant = (SELECT tenant FROM repositories WHERE name = OLD.repository);
   END;`,
  // Upload bounds (issue 10): a tenant's open sessions and the bytes they have staged, kept by
  // triggers like the other figures (exact by construction), filled from the sessions already there.
  `ALTER TABLE tenant_usage ADD COLUMN upload_sessions INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tenant_usage ADD COLUMN staged_bytes INTEGER NOT NULL DEFAULT 0;
   INSERT OR IGNORE INTO tenant_usage (tenant) SELECT DISTINCT tenant FROM uploads;
   UPDATE tenant_usage SET
     upload_sessions = (SELECT count(*) FROM uploads u WHERE u.tenant = tenant_usage.tenant),
     staged_bytes = (SELECT coalesce(sum(u.size), 0) FROM uploads u WHERE u.tenant = tenant_usage.tenant);
   CREATE TRIGGER upload_added AFTER INSERT ON uploads BEGIN
     INSERT INTO tenant_usage (tenant, upload_sessions, staged_bytes) VALUES (NEW.tenant, 1, NEW.size)
       ON CONFLICT (tenant) DO UPDATE SET upload_sessions = upload_sessions + 1, staged_bytes = staged_bytes + excluded.staged_bytes;
   END;
   CREATE TRIGGER upload_resized AFTER UPDATE OF size ON uploads BEGIN
     UPDATE tenant_usage SET staged_bytes = staged_bytes + NEW.size - OLD.size WHERE tenant = NEW.tenant;
   END;
   CREATE TRIGGER upload_removed AFTER DELETE ON uploads BEGIN
     UPDATE tenant_usage SET upload_sessions = upload_sessions - 1, staged_bytes = staged_bytes - OLD.size WHERE tenant = OLD.tenant;
   END;`,
];

export function migrateMetadataSchema(db: SqliteDatabase): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(`metadata.db has schema version ${version}, newer than this Stratus knows (${MIGRATIONS.length})`);
  }
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
}
