import type { SqliteDatabase } from "./sqlite-driver.ts";
import type { QuotaExceeded, QuotaOutcome, RepositoryName, TenantId, TenantLimits, UploadId, UploadSession, UploadUsage } from "@stratus/core";

// Upload sessions in the metadata file (the uploads table), for SqliteMetadataStore. The tenant's
// open sessions and staged bytes are counted by triggers on this table (sqlite-metadata-schema.ts),
// so every insert, resize and delete moves them with it. Changes under limits read the figures and
// write in one IMMEDIATE transaction: another process on the file cannot slip in between.
// Methods are synchronous: the store wraps them (guard) and runs them inside its own transactions.

interface UploadRow {
  id: string; repository: string; tenant: string; size: number; staging: string; hash_state: string | null; created_at: number; updated_at: number;
}
interface UsageRow { upload_sessions: number; staged_bytes: number; stored_bytes: number }

const OK: QuotaOutcome = { ok: true };
const UNLIMITED = Number.MAX_SAFE_INTEGER;

export class SqliteUploads {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly db: SqliteDatabase) {
    this.sql = prepare(db);
  }

  create(session: UploadSession, limits?: TenantLimits): QuotaOutcome {
    const insert = () => {
      this.sql.insert.run(
        session.id, session.repository, session.tenant, session.size,
        JSON.stringify(session.staging), session.hashState ?? null, session.createdAt, session.updatedAt,
      );
    };
    if (!limits || limits.uploadSessions >= UNLIMITED) {
      insert();
      return OK;
    }
    return this.db.transaction((): QuotaOutcome => {
      const open = this.usage(session.tenant).sessions;
      if (open + 1 > limits.uploadSessions) return { ok: false, limit: "uploadSessions", max: limits.uploadSessions, usage: open };
      insert();
      return OK;
    }).immediate();
  }

  get(id: UploadId): UploadSession | undefined {
    return toUpload(this.sql.get.get(id) as UploadRow | undefined);
  }

  update(session: UploadSession, expectedSize: number, limits?: TenantLimits): boolean | QuotaExceeded {
    const write = () =>
      this.sql.update.run(session.size, JSON.stringify(session.staging), session.hashState ?? null, session.updatedAt, session.id, expectedSize).changes > 0;
    const added = session.size - expectedSize;
    if (!limits || limits.storedBytes >= UNLIMITED || added <= 0) return write();
    return this.db.transaction((): boolean | QuotaExceeded => {
      // Stale or gone first: a writer that lost the race is told so, not refused for room.
      if (this.sql.sizeOf.get(session.id) !== expectedSize) return false;
      const refused = this.bytesRefusal(session.tenant, limits, added, 0);
      return refused ?? write();
    }).immediate();
  }

  delete(id: UploadId): void {
    this.sql.delete.run(id);
  }

  /** The session's staged size, if it exists (commitBlob counts a committing session's bytes once). */
  sizeOf(id: UploadId): number | undefined {
    return this.sql.sizeOf.get(id) as number | undefined;
  }

  listIdle(before: number, limit: number): UploadSession[] {
    return (this.sql.idle.all(before, limit) as UploadRow[]).map((row) => toUpload(row)!);
  }

  usage(tenant: TenantId): UploadUsage {
    const row = this.sql.usage.get(tenant) as UsageRow | undefined;
    return { sessions: row?.upload_sessions ?? 0, stagedBytes: row?.staged_bytes ?? 0, storedBytes: row?.stored_bytes ?? 0 };
  }

  /**
   * The refusal when `bytes` more would take the tenant's stored plus staged bytes past `storedBytes`;
   * `ownStaged` is staged by the session that is becoming those bytes (a commit), so not counted twice.
   * Run inside the change's transaction.
   */
  bytesRefusal(tenant: TenantId, limits: TenantLimits, bytes: number, ownStaged: number): QuotaExceeded | undefined {
    if (bytes <= 0) return undefined;
    const { storedBytes, stagedBytes } = this.usage(tenant);
    const staged = stagedBytes - ownStaged;
    if (storedBytes + staged + bytes <= limits.storedBytes) return undefined;
    return { ok: false, limit: "storedBytes", max: limits.storedBytes, usage: storedBytes, ...(staged > 0 ? { stagedBytes: staged } : {}) };
  }
}

function prepare(db: SqliteDatabase) {
  const s = (sql: string) => db.prepare(sql);
  return {
    insert: s(`INSERT INTO uploads (id, repository, tenant, size, staging, hash_state, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    get: s("SELECT * FROM uploads WHERE id = ?"),
    sizeOf: s("SELECT size FROM uploads WHERE id = ?").pluck(),
    // The size condition makes a stale writer (a retried or racing PATCH) lose instead of overwrite.
    update: s("UPDATE uploads SET size = ?, staging = ?, hash_state = ?, updated_at = ? WHERE id = ? AND size = ?"),
    delete: s("DELETE FROM uploads WHERE id = ?"),
    idle: s("SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at, id LIMIT ?"),
    usage: s("SELECT upload_sessions, staged_bytes, stored_bytes FROM tenant_usage WHERE tenant = ?"),
  };
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
