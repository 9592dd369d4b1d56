// Through the process's SQLite driver (better-sqlite3 or node:sqlite, src/sqlite-driver.ts), as the stores.
import { openSqlite } from "../src/sqlite-driver.ts";
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestOf, type RepositoryName, type TenantId, type UploadId } from "@stratus/core";
import { openLocalStorage } from "../src/index.ts";
import { expectPrivateTree } from "../../../test/support/private-files.ts";

// Item 9 of issue 10: everything the local storage writes is its user's only, and a data directory
// an earlier version left readable by others is tightened when it opens.

describe("local storage files", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "stratus-private-"));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it("are created 0600 in 0700 directories whatever the umask: database, staged uploads, blobs", async () => {
    const previous = process.umask(0o022);
    try {
      const root = join(dataDir, "fresh");
      const storage = await openLocalStorage(root);
      const tenant = "acme" as TenantId;
      const id = "00000000-0000-4000-8000-000000000001" as UploadId;
      const bytes = new TextEncoder().encode("layer bytes");
      await storage.blobs.createUpload(id, tenant);
      await storage.blobs.appendUpload(id, {}, 0, (async function* () {
        yield bytes;
      })());
      const staged = join(root, "uploads", id);
      expect((await stat(staged)).mode & 0o777).toBe(0o600);
      await storage.blobs.commitUpload(id, {}, tenant, digestOf(bytes), bytes.length);
      await storage.metadata.commitBlob(tenant, "acme/app" as RepositoryName, { digest: digestOf(bytes), size: bytes.length });
      await storage.blobs.createUpload("00000000-0000-4000-8000-000000000002" as UploadId, tenant);
      await expectPrivateTree(root);
      storage.close();
    } finally {
      process.umask(previous);
    }
  });

  it("tightens what an earlier version left readable: metadata.db with its -wal and -shm, blobs/ and uploads/", async () => {
    await mkdir(join(dataDir, "blobs", "acme"), { recursive: true, mode: 0o755 });
    await mkdir(join(dataDir, "uploads"), { mode: 0o755 });
    await chmod(join(dataDir, "blobs"), 0o755);
    const db = openSqlite(join(dataDir, "metadata.db"));
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (x)");
    await chmod(join(dataDir, "metadata.db"), 0o644);
    await writeFile(join(dataDir, "metadata.db-shm"), "", { flag: "a", mode: 0o644 });
    await chmod(join(dataDir, "metadata.db-shm"), 0o644);
    await chmod(join(dataDir, "metadata.db-wal"), 0o644);
    db.close();

    const storage = await openLocalStorage(dataDir);
    for (const file of ["metadata.db", "metadata.db-wal", "metadata.db-shm"]) {
      expect((await stat(join(dataDir, file))).mode & 0o777, file).toBe(0o600);
    }
    for (const dir of ["blobs", "uploads"]) expect((await stat(join(dataDir, dir))).mode & 0o777, dir).toBe(0o700);
    storage.close();
  });
});
