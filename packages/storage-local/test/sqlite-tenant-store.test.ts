// Through the process's SQLite driver (better-sqlite3 or node:sqlite, src/sqlite-driver.ts), as the stores.
import { openSqlite } from "../src/sqlite-driver.ts";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_UPLOAD_SESSIONS, digestOf, StorageUnavailableError } from "@stratus/core";
import type { RepositoryName, TenantId } from "@stratus/core";
import { tenantStoreContract } from "../../../test/contracts/tenant-store.contract.ts";
import { openLocalStorage } from "../src/index.ts";
import { SqliteMetadataStore } from "../src/sqlite-metadata-store.ts";
import { SqliteTenantStore } from "../src/sqlite-tenant-store.ts";
import { tenantFixture } from "./sqlite-fixtures.ts";

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "stratus-tenants-"));
}

tenantStoreContract("SqliteTenantStore", tenantFixture);

describe("SqliteTenantStore on disk", () => {
  const acme = "acme" as TenantId;
  const web = "acme/web" as RepositoryName;
  const key = { id: "abcdefghijklmnop", tenant: acme, role: "push" as const, repositories: ["acme/*"], secretHash: "cd".repeat(32), createdAt: 3 };
  const plan = { name: "pro", limits: { repositories: 10, storedBytes: Number.MAX_SAFE_INTEGER, manifestsPerRepository: 7, uploadSessions: 9 } };
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await tempDir();
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it("keeps everything across close and reopen", async () => {
    const first = new SqliteTenantStore({ dataDir });
    await first.createTenant({ id: acme, plan: "pro", createdAt: 1, generation: "g1" });
    await first.putPlan(plan);
    await first.createApiKey(key);
    await first.recordKeyUse(key.id, 9);
    await first.setVisibility(acme, web, "public");
    first.close();

    const second = new SqliteTenantStore({ dataDir });
    try {
      expect(await second.getTenant(acme)).toStrictEqual({ id: acme, plan: "pro", createdAt: 1, generation: "g1" });
      expect(await second.getPlan("pro")).toStrictEqual(plan);
      expect(await second.getApiKey(key.id)).toStrictEqual({ ...key, lastUsedAt: 9 });
      expect(await second.getVisibility(web)).toBe("public");
      expect(await second.listPublicRepositories({ limit: 10 })).toEqual({ items: [web], more: false });
    } finally {
      second.close();
    }
  });

  it("shares metadata.db with the metadata store, leaving its user_version alone, whichever opens first", async () => {
    for (const tenantsFirst of [true, false]) {
      const dir = join(dataDir, String(tenantsFirst));
      await mkdir(dir);
      const tenants0 = tenantsFirst ? new SqliteTenantStore({ dataDir: dir }) : undefined;
      const metadata = new SqliteMetadataStore({ dataDir: dir });
      const tenants = tenants0 ?? new SqliteTenantStore({ dataDir: dir });
      await tenants.createTenant({ id: acme, plan: "default", createdAt: 1, generation: "g1" });
      await metadata.commitBlob(acme, web, { digest: digestOf(new Uint8Array([1])), size: 1 });
      await tenants.setVisibility(acme, web, "public");
      tenants.close();
      metadata.close();

      const db = openSqlite(join(dir, "metadata.db"));
      try {
        expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
        // The metadata store's migrations own user_version; the tenant store's version is a row of its own.
        expect(db.pragma("user_version", { simple: true })).toBeGreaterThanOrEqual(3);
        expect(db.prepare("SELECT component, version FROM schema_versions WHERE component = 'tenants'").all()).toEqual([{ component: "tenants", version: expect.any(Number) }]);
        const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
        expect(tables).toEqual(expect.arrayContaining(["api_keys", "plans", "public_repositories", "repositories", "schema_versions", "tenants"]));
      } finally {
        db.close();
      }
      const reopened = new SqliteMetadataStore({ dataDir: dir });
      expect(await reopened.repositoryExists(web)).toBe(true);
      reopened.close();
    }
  });

  it("gives tenants stored before generations existed a random generation each", async () => {
    // A metadata.db as the first tenant schema left it, with two tenants in it.
    const db = openSqlite(join(dataDir, "metadata.db"));
    db.exec(`CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO schema_versions VALUES ('tenants', 1);
      CREATE TABLE tenants (id TEXT PRIMARY KEY, plan TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE plans (name TEXT PRIMARY KEY, repositories INTEGER NOT NULL, stored_bytes INTEGER NOT NULL, manifests_per_repository INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE api_keys (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, role TEXT NOT NULL, repositories TEXT, secret_hash TEXT NOT NULL,
        description TEXT, created_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER) WITHOUT ROWID;
      CREATE TABLE public_repositories (repository TEXT PRIMARY KEY, tenant TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO tenants VALUES ('acme', 'default', 1), ('globex', 'default', 2);`);
    db.close();
    const store = new SqliteTenantStore({ dataDir });
    try {
      const [a, g] = [await store.getTenant(acme), await store.getTenant("globex" as TenantId)];
      expect(a?.generation).toMatch(/^[0-9a-f]{24}$/);
      expect(g?.generation).toMatch(/^[0-9a-f]{24}$/);
      expect(a?.generation).not.toBe(g?.generation);
    } finally {
      store.close();
    }
  });

  it("gives plans stored before the upload-session limit existed the default one", async () => {
    const store = new SqliteTenantStore({ dataDir });
    await store.putPlan(plan);
    const db = openSqlite(join(dataDir, "metadata.db"));
    // As a plan row from before the column was added reads.
    db.prepare("UPDATE plans SET upload_sessions = NULL WHERE name = 'pro'").run();
    db.close();
    try {
      expect(await store.getPlan("pro")).toStrictEqual({ ...plan, limits: { ...plan.limits, uploadSessions: DEFAULT_UPLOAD_SESSIONS } });
      expect((await store.listPlans())[0]?.limits.uploadSessions).toBe(DEFAULT_UPLOAD_SESSIONS);
    } finally {
      store.close();
    }
  });

  it("refuses a database whose tenant schema is newer", () => {
    new SqliteTenantStore({ dataDir }).close();
    const db = openSqlite(join(dataDir, "metadata.db"));
    db.prepare("UPDATE schema_versions SET version = 99 WHERE component = 'tenants'").run();
    db.close();
    expect(() => new SqliteTenantStore({ dataDir })).toThrow(/newer/);
  });

  it("reports a failure of the database itself as StorageUnavailableError", async () => {
    const store = new SqliteTenantStore({ dataDir });
    const db = openSqlite(join(dataDir, "metadata.db"));
    db.exec("DROP TABLE api_keys");
    db.close();
    await expect(store.getApiKey("abcdefghijklmnop")).rejects.toBeInstanceOf(StorageUnavailableError);
    store.close();
  });

  it("comes with openLocalStorage, in the same file", async () => {
    const storage = await openLocalStorage(dataDir);
    await storage.tenants.createTenant({ id: acme, plan: "default", createdAt: 1, generation: "g1" });
    await storage.metadata.commitBlob(acme, web, { digest: digestOf(new Uint8Array([2])), size: 1 });
    storage.close();
    const tenants = new SqliteTenantStore({ path: join(dataDir, "metadata.db") });
    expect(await tenants.getTenant(acme)).toBeDefined();
    tenants.close();
  });
});
