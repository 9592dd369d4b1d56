// Through the process's SQLite driver (better-sqlite3 or node:sqlite, src/sqlite-driver.ts), as the stores.
import { openSqlite } from "../src/sqlite-driver.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestOf } from "@stratus/core";
import type { RepositoryName, Tag, TenantId, UploadId } from "@stratus/core";
import { metadataStoreContract } from "../../../test/contracts/metadata-store.contract.ts";
import { uploadUsageContract } from "../../../test/contracts/upload-usage.contract.ts";
import { SqliteMetadataStore } from "../src/sqlite-metadata-store.ts";
import { metadataFixture } from "./sqlite-fixtures.ts";

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "stratus-sqlite-"));
}

metadataStoreContract("SqliteMetadataStore", metadataFixture);
uploadUsageContract("SqliteMetadataStore", metadataFixture);

describe("SqliteMetadataStore on disk", () => {
  const web = "acme/web" as RepositoryName;
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await tempDir();
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it("keeps everything across close and reopen", async () => {
    const bytes = new TextEncoder().encode('{"schemaVersion":2}');
    const manifest = { repository: web, digest: digestOf(bytes), mediaType: "application/vnd.oci.image.manifest.v1+json", bytes, createdAt: 5 };
    const blob = { digest: digestOf(new Uint8Array([1])), size: 1 };
    const upload = { id: "0b5e8a52-5a55-4c43-a3f3-1f6f8c0b7e01" as UploadId, repository: web, tenant: "acme" as TenantId, size: 3, staging: { k: "v" }, createdAt: 1, updatedAt: 2 };

    const first = new SqliteMetadataStore({ dataDir });
    await first.commitBlob("acme" as TenantId, web, blob);
    await first.putManifest("default" as TenantId, manifest, ["v1" as Tag]);
    await first.createUpload(upload);
    first.close();

    const second = new SqliteMetadataStore({ dataDir });
    try {
      expect(await second.findLinkedBlob(web, blob.digest)).toEqual(blob);
      expect(await second.getManifest(web, { kind: "tag", tag: "v1" as Tag })).toEqual(manifest);
      expect(await second.getUpload(upload.id)).toEqual(upload);
      expect(await second.listRepositories({ limit: 10 })).toEqual({ items: [web], more: false });
    } finally {
      second.close();
    }
  });

  it("opens in WAL mode with the schema version recorded", () => {
    new SqliteMetadataStore({ dataDir }).close();
    const db = openSqlite(join(dataDir, "metadata.db"));
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("user_version", { simple: true })).toBe(5);
    } finally {
      db.close();
    }
  });

  it("fills the usage counters from the rows of a database from before them (schema 3)", async () => {
    const tenant = "acme" as TenantId;
    const bytes = new TextEncoder().encode('{"schemaVersion":2,"n":1}');
    const manifest = { repository: web, digest: digestOf(bytes), mediaType: "application/vnd.oci.image.manifest.v1+json", bytes, createdAt: 5 };
    const first = new SqliteMetadataStore({ dataDir });
    await first.commitBlob(tenant, web, { digest: digestOf(new Uint8Array([1])), size: 100 });
    await first.commitBlob(tenant, "acme/api" as RepositoryName, { digest: digestOf(new Uint8Array([1])), size: 100 });
    await first.commitBlob(tenant, "acme/api" as RepositoryName, { digest: digestOf(new Uint8Array([2])), size: 20 });
    await first.putManifest(tenant, manifest, ["v1" as Tag]);
    await first.commitBlob("globex" as TenantId, "globex/app" as RepositoryName, { digest: digestOf(new Uint8Array([1])), size: 100 });
    first.close();
    // Back to schema 3: no counters, no triggers.
    const db = openSqlite(join(dataDir, "metadata.db"));
    for (const trigger of [
      "repository_added", "repository_removed", "blob_added", "blob_removed", "manifest_added", "manifest_rewritten", "manifest_removed",
      "upload_added", "upload_resized", "upload_removed",
    ]) {
      db.exec(`DROP TRIGGER ${trigger}`);
    }
    db.exec("DROP TABLE tenant_usage; ALTER TABLE repositories DROP COLUMN manifests");
    db.pragma("user_version = 3");
    db.close();

    const second = new SqliteMetadataStore({ dataDir });
    try {
      expect(await second.tenantUsage(tenant)).toEqual({ repositories: 2, storedBytes: 120 + bytes.length });
      expect(await second.tenantUsage("globex" as TenantId)).toEqual({ repositories: 1, storedBytes: 100 });
      expect(await second.manifestCount(web)).toBe(1);
      expect(await second.deleteManifest(web, manifest.digest)).toBe(true);
      expect(await second.tenantUsage(tenant)).toEqual({ repositories: 2, storedBytes: 120 });
      expect(await second.manifestCount(web)).toBe(0);
    } finally {
      second.close();
    }
  });

  it("counts the upload sessions of a database from before upload counters (schema 4), and keeps counting", async () => {
    const acme = "acme" as TenantId;
    const session = (id: string, size: number, tenant = acme) =>
      ({ id: id as UploadId, repository: web, tenant, size, staging: {}, createdAt: 1, updatedAt: 1 });
    const first = new SqliteMetadataStore({ dataDir });
    await first.commitBlob(acme, web, { digest: digestOf(new Uint8Array([1])), size: 100 });
    await first.createUpload(session("0b5e8a52-5a55-4c43-a3f3-1f6f8c0b7e01", 30));
    await first.createUpload(session("0b5e8a52-5a55-4c43-a3f3-1f6f8c0b7e02", 12));
    await first.createUpload(session("0b5e8a52-5a55-4c43-a3f3-1f6f8c0b7e03", 5, "globex" as TenantId));
    first.close();
    // Back to schema 4: no upload counters, no triggers for them.
    const db = openSqlite(join(dataDir, "metadata.db"));
    db.exec(`DROP TRIGGER upload_added; DROP TRIGGER upload_resized; DROP TRIGGER upload_removed;
      ALTER TABLE tenant_usage DROP COLUMN upload_sessions; ALTER TABLE tenant_usage DROP COLUMN staged_bytes`);
    db.pragma("user_version = 4");
    db.close();

    const second = new SqliteMetadataStore({ dataDir });
    try {
      expect(await second.uploadUsage(acme)).toEqual({ sessions: 2, stagedBytes: 42, storedBytes: 100 });
      expect(await second.uploadUsage("globex" as TenantId)).toEqual({ sessions: 1, stagedBytes: 5, storedBytes: 0 });
      await second.deleteUpload("0b5e8a52-5a55-4c43-a3f3-1f6f8c0b7e01" as UploadId);
      expect(await second.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 12, storedBytes: 100 });
    } finally {
      second.close();
    }
  });

  it("refuses a database from a newer version", () => {
    const db = openSqlite(join(dataDir, "metadata.db"));
    db.pragma("user_version = 99");
    db.close();
    expect(() => new SqliteMetadataStore({ dataDir })).toThrow(/newer/);
  });

  it("opens a given path", async () => {
    const store = new SqliteMetadataStore({ path: join(dataDir, "elsewhere.db") });
    await store.commitBlob("acme" as TenantId, web, { digest: digestOf(new Uint8Array([2])), size: 1 });
    expect(await store.repositoryExists(web)).toBe(true);
    store.close();
  });
});
