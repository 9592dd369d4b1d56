import type { SqliteDatabase } from "./sqlite-driver.ts";
import { join } from "node:path";
import { guard, openPrivateDatabase, toPage } from "./sqlite-support.ts";
import { DEFAULT_UPLOAD_SESSIONS } from "@stratus/core";
import type {
  ApiKeyRecord, Page, PageRequest, Plan, RepositoryName, Role, Tenant, TenantId, TenantStore, Visibility,
} from "@stratus/core";

// Tenants, plans, API keys and repository visibility in SQLite, in the same file as the metadata
// (metadata.db: one file to back up), on a connection of its own.
//
// The metadata store versions its schema with PRAGMA user_version; there is one user_version per
// file, so this store keeps its own version in a table, `schema_versions` (one row per component:
// "tenants" here). The two migration lists never touch each other's tables and either store may open
// the file first. Table names: tenants, plans, api_keys, public_repositories.
//
// better-sqlite3 is synchronous: in one process every method runs to completion before another
// starts, whichever of the two connections it uses. Another process (the CLI) waits on busy_timeout.

export type SqliteTenantStoreOptions = { dataDir: string } | { path: string };

const COMPONENT = "tenants";

// Each entry moves this store's schema from version i to i + 1. Append, never edit.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE tenants (id TEXT PRIMARY KEY, plan TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE plans (
    name TEXT PRIMARY KEY, repositories INTEGER NOT NULL, stored_bytes INTEGER NOT NULL,
    manifests_per_repository INTEGER NOT NULL) WITHOUT ROWID;
  -- repositories: JSON array of patterns, NULL when the key is not limited to some.
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, role TEXT NOT NULL, repositories TEXT, secret_hash TEXT NOT NULL,
    description TEXT, created_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER) WITHOUT ROWID;
  CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at, id);
  -- A repository is private unless it has a row here.
  CREATE TABLE public_repositories (repository TEXT PRIMARY KEY, tenant TEXT NOT NULL) WITHOUT ROWID;
  CREATE INDEX public_repositories_by_tenant ON public_repositories (tenant);
  `,
  // Tenant generations (core auth/tenant-generations.ts): tenants of before get a random one each.
  `
  ALTER TABLE tenants ADD COLUMN generation TEXT;
  UPDATE tenants SET generation = lower(hex(randomblob(12))) WHERE generation IS NULL;
  `,
  // Open upload sessions per tenant (issue 10); NULL, as in plans stored before, means the default.
  `ALTER TABLE plans ADD COLUMN upload_sessions INTEGER;`,
];

interface TenantRow { id: string; plan: string; created_at: number; generation: string }
interface PlanRow { name: string; repositories: number; stored_bytes: number; manifests_per_repository: number; upload_sessions: number | null }
interface KeyRow {
  id: string; tenant: string; role: string; repositories: string | null; secret_hash: string; description: string | null;
  created_at: number; last_used_at: number | null; revoked_at: number | null;
}

export class SqliteTenantStore implements TenantStore {
  private readonly db: SqliteDatabase;
  private readonly sql: ReturnType<typeof prepare>;

  constructor(options: SqliteTenantStoreOptions) {
    const path = "path" in options ? options.path : join(options.dataDir, "metadata.db");
    this.db = guard("open tenants", () => openPrivateDatabase(path));
    try {
      guard("open tenants", () => {
        // The metadata store's connection sets the same: WAL is a property of the file, the others of a connection.
        this.db.pragma("journal_mode = WAL");
        this.db.pragma("synchronous = FULL");
        this.db.pragma("busy_timeout = 5000");
        migrate(this.db);
      });
      this.sql = prepare(this.db);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  close(): void {
    this.db.close();
  }

  async createTenant(tenant: Tenant): Promise<boolean> {
    return guard("create tenant", () => this.sql.insertTenant.run(tenant.id, tenant.plan, tenant.createdAt, tenant.generation).changes > 0);
  }

  async getTenant(id: TenantId): Promise<Tenant | undefined> {
    return guard("get tenant", () => toTenant(this.sql.getTenant.get(id) as TenantRow | undefined));
  }

  async setTenantPlan(id: TenantId, plan: string): Promise<boolean> {
    return guard("set plan", () => this.sql.setTenantPlan.run(plan, id).changes > 0);
  }

  async deleteTenant(id: TenantId): Promise<boolean> {
    return guard("delete tenant", () =>
      this.db.transaction(() => {
        this.sql.deleteKeysOf.run(id);
        this.sql.deletePublicOf.run(id);
        return this.sql.deleteTenant.run(id).changes > 0;
      })(),
    );
  }

  async listTenants(page: PageRequest): Promise<{ items: Tenant[]; more: boolean }> {
    return guard("list tenants", () =>
      toPage((this.sql.listTenants.all(page.after ?? "", page.limit + 1) as TenantRow[]).map((row) => toTenant(row)!), page.limit),
    );
  }

  async putPlan(plan: Plan): Promise<void> {
    const { repositories, storedBytes, manifestsPerRepository, uploadSessions } = plan.limits;
    guard("put plan", () => this.sql.upsertPlan.run(plan.name, repositories, storedBytes, manifestsPerRepository, uploadSessions));
  }

  async getPlan(name: string): Promise<Plan | undefined> {
    return guard("get plan", () => toPlan(this.sql.getPlan.get(name) as PlanRow | undefined));
  }

  async listPlans(): Promise<Plan[]> {
    return guard("list plans", () => (this.sql.listPlans.all() as PlanRow[]).map((row) => toPlan(row)!));
  }

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    const inserted = guard("create key", () =>
      this.sql.insertKey.run(
        key.id, key.tenant, key.role, key.repositories === undefined ? null : JSON.stringify(key.repositories), key.secretHash,
        key.description ?? null, key.createdAt, key.lastUsedAt ?? null, key.revokedAt ?? null,
      ).changes > 0,
    );
    // Ids are random: a clash is a bug of the caller, never a reason to overwrite another key.
    if (!inserted) throw new Error(`an API key with id ${key.id} exists already`);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return guard("get key", () => toKey(this.sql.getKey.get(id) as KeyRow | undefined));
  }

  async listApiKeys(tenant: TenantId): Promise<ApiKeyRecord[]> {
    return guard("list keys", () => (this.sql.keysOf.all(tenant) as KeyRow[]).map((row) => toKey(row)!));
  }

  async revokeApiKey(tenant: TenantId, id: string, at: number): Promise<boolean> {
    return guard("revoke key", () => this.sql.revokeKey.run(at, id, tenant).changes > 0);
  }

  async recordKeyUse(id: string, at: number): Promise<void> {
    guard("record key use", () => this.sql.recordKeyUse.run(at, id, at));
  }

  async setVisibility(tenant: TenantId, repository: RepositoryName, visibility: Visibility): Promise<void> {
    guard("set visibility", () =>
      visibility === "public" ? this.sql.insertPublic.run(repository, tenant) : this.sql.deletePublic.run(repository),
    );
  }

  async getVisibility(repository: RepositoryName): Promise<Visibility> {
    return guard("get visibility", () => (this.sql.isPublic.get(repository) === undefined ? "private" : "public"));
  }

  async listPublicRepositories(page: PageRequest): Promise<Page> {
    return guard("list public repositories", () =>
      toPage(this.sql.listPublic.all(page.after ?? "", page.limit + 1) as string[], page.limit),
    );
  }
}

function migrate(db: SqliteDatabase): void {
  db.transaction(() => {
    db.exec("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID");
    const version = (db.prepare("SELECT version FROM schema_versions WHERE component = ?").pluck().get(COMPONENT) as number | undefined) ?? 0;
    if (version > MIGRATIONS.length) {
      throw new Error(`metadata.db has tenant schema version ${version}, newer than this Stratus knows (${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.prepare("INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version")
      .run(COMPONENT, MIGRATIONS.length);
  }).immediate();
}

/** Every statement, prepared once at open. */
function prepare(db: SqliteDatabase) {
  const s = (sql: string) => db.prepare(sql);
  return {
    insertTenant: s("INSERT INTO tenants (id, plan, created_at, generation) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
    getTenant: s("SELECT * FROM tenants WHERE id = ?"),
    setTenantPlan: s("UPDATE tenants SET plan = ? WHERE id = ?"),
    deleteTenant: s("DELETE FROM tenants WHERE id = ?"),
    listTenants: s("SELECT * FROM tenants WHERE id > ? ORDER BY id LIMIT ?"),
    upsertPlan: s(`INSERT INTO plans (name, repositories, stored_bytes, manifests_per_repository, upload_sessions) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET repositories = excluded.repositories, stored_bytes = excluded.stored_bytes,
        manifests_per_repository = excluded.manifests_per_repository, upload_sessions = excluded.upload_sessions`),
    getPlan: s("SELECT * FROM plans WHERE name = ?"),
    listPlans: s("SELECT * FROM plans ORDER BY name"),
    insertKey: s(`INSERT INTO api_keys (id, tenant, role, repositories, secret_hash, description, created_at, last_used_at, revoked_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
    getKey: s("SELECT * FROM api_keys WHERE id = ?"),
    keysOf: s("SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at, id"),
    revokeKey: s("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant = ? AND revoked_at IS NULL"),
    // Uses reported late by another process never move the time back.
    recordKeyUse: s("UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)"),
    deleteKeysOf: s("DELETE FROM api_keys WHERE tenant = ?"),
    insertPublic: s("INSERT INTO public_repositories (repository, tenant) VALUES (?, ?) ON CONFLICT (repository) DO UPDATE SET tenant = excluded.tenant"),
    deletePublic: s("DELETE FROM public_repositories WHERE repository = ?"),
    deletePublicOf: s("DELETE FROM public_repositories WHERE tenant = ?"),
    isPublic: s("SELECT 1 FROM public_repositories WHERE repository = ?"),
    listPublic: s("SELECT repository FROM public_repositories WHERE repository > ? ORDER BY repository LIMIT ?").pluck(),
  };
}

function toTenant(row: TenantRow | undefined): Tenant | undefined {
  return row && { id: row.id as TenantId, plan: row.plan, createdAt: row.created_at, generation: row.generation };
}

function toPlan(row: PlanRow | undefined): Plan | undefined {
  return row && {
    name: row.name,
    limits: {
      repositories: row.repositories, storedBytes: row.stored_bytes, manifestsPerRepository: row.manifests_per_repository,
      uploadSessions: row.upload_sessions ?? DEFAULT_UPLOAD_SESSIONS,
    },
  };
}

function toKey(row: KeyRow | undefined): ApiKeyRecord | undefined {
  if (!row) return undefined;
  const key: ApiKeyRecord = { id: row.id, tenant: row.tenant as TenantId, role: row.role as Role, secretHash: row.secret_hash, createdAt: row.created_at };
  if (row.repositories !== null) key.repositories = JSON.parse(row.repositories) as string[];
  if (row.description !== null) key.description = row.description;
  if (row.last_used_at !== null) key.lastUsedAt = row.last_used_at;
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  return key;
}
