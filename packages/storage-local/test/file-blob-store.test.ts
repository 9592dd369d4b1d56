import { randomUUID } from "node:crypto";
import { appendFile, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestHex, digestOf } from "@stratus/core";
import type { RepositoryName, TenantId, UploadId } from "@stratus/core";
import { blobStoreContract, expectBytes, pattern } from "../../../test/contracts/blob-store.contract.ts";
import { FileBlobStore } from "../src/file-blob-store.ts";
import { openLocalStorage } from "../src/index.ts";

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "stratus-files-"));
}

blobStoreContract("FileBlobStore", async () => {
  const dataDir = await tempDir();
  return { store: new FileBlobStore({ dataDir }), cleanup: () => rm(dataDir, { recursive: true, force: true }) };
});

async function* from(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

/** Every file under dir, relative to it. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe("FileBlobStore on disk", () => {
  const tenant = "acme" as TenantId;
  let dataDir: string;
  let store: FileBlobStore;
  beforeEach(async () => {
    dataDir = await tempDir();
    store = new FileBlobStore({ dataDir });
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it("truncates bytes a crash left past the recorded size before appending", async () => {
    const id = randomUUID() as UploadId;
    const staging = await store.createUpload(id, tenant);
    const first = pattern(100, 1);
    const r1 = await store.appendUpload(id, staging, 0, from(first));
    // A request wrote these, then the process died before the session recorded them.
    await appendFile(join(dataDir, "uploads", id), pattern(5000, 2));
    const second = pattern(50, 3);
    const r2 = await store.appendUpload(id, r1.staging, r1.size, from(second));
    expect(r2).toMatchObject({ ok: true, size: 150 });
    expect((await stat(join(dataDir, "uploads", id))).size).toBe(150);
    const bytes = Buffer.concat([first, second]);
    const chunks: Uint8Array[] = [];
    for await (const c of store.readUpload(id, r2.staging, 150)) chunks.push(c);
    expectBytes(Buffer.concat(chunks), bytes);
  });

  it("commits only the recorded size of a longer staged file", async () => {
    const id = randomUUID() as UploadId;
    const staging = await store.createUpload(id, tenant);
    const bytes = pattern(100, 4);
    const r = await store.appendUpload(id, staging, 0, from(bytes));
    await appendFile(join(dataDir, "uploads", id), pattern(10, 5));
    const digest = digestOf(bytes);
    await store.commitUpload(id, r.staging, tenant, digest, 100);
    expect((await stat(join(dataDir, "blobs", "acme", "sha256", digestHex(digest).slice(0, 2), digestHex(digest)))).size).toBe(100);
  });

  it("writes nothing under blobs/ until commit, then exactly the digest path", async () => {
    const id = randomUUID() as UploadId;
    const staging = await store.createUpload(id, tenant);
    const bytes = pattern(70_000, 6);
    const r = await store.appendUpload(id, staging, 0, from(bytes.subarray(0, 1), bytes.subarray(1)));
    expect(await files(join(dataDir, "blobs"))).toEqual([]);
    expect(await files(join(dataDir, "uploads"))).toEqual([id]);
    const digest = digestOf(bytes);
    expect(await store.commitUpload(id, r.staging, tenant, digest, bytes.byteLength)).toEqual({});
    const hex = digestHex(digest);
    expect(await files(join(dataDir, "blobs"))).toEqual([join("acme", "sha256", hex.slice(0, 2), hex)]);
    expect(await files(join(dataDir, "uploads"))).toEqual([]);
  });

  it("discards the staged file when the tenant already has the blob", async () => {
    const bytes = pattern(1000, 7);
    const digest = digestOf(bytes);
    for (let i = 0; i < 2; i++) {
      const id = randomUUID() as UploadId;
      const r = await store.appendUpload(id, await store.createUpload(id, tenant), 0, from(bytes));
      await store.commitUpload(id, r.staging, tenant, digest, bytes.byteLength);
    }
    expect(await files(join(dataDir, "blobs"))).toHaveLength(1);
    expect(await files(join(dataDir, "uploads"))).toEqual([]);
  });

  it("refuses ids and tenants that could escape the data directory", async () => {
    const blob = { digest: digestOf(pattern(1, 1)), size: 1 };
    await expect(store.createUpload("../../etc/passwd" as UploadId, tenant)).rejects.toThrow(/UUID/);
    await expect(store.open("../x" as TenantId, blob)).rejects.toThrow(/tenant/);
    await expect(store.open("a/b" as TenantId, blob)).rejects.toThrow(/tenant/);
    await expect(store.open("default" as TenantId, blob)).resolves.toBeUndefined();
  });

  it("serves a blob that was deleted after it was opened", async () => {
    const bytes = pattern(200_000, 8);
    const id = randomUUID() as UploadId;
    const r = await store.appendUpload(id, await store.createUpload(id, tenant), 0, from(bytes));
    const blob = { digest: digestOf(bytes), size: bytes.byteLength };
    await store.commitUpload(id, r.staging, tenant, blob.digest, blob.size);
    const content = await store.open(tenant, blob);
    await store.delete(tenant, blob);
    expect(content?.kind).toBe("stream");
    if (content?.kind !== "stream") return;
    expectBytes(new Uint8Array(await new Response(content.body).arrayBuffer()), bytes);
  });

  it("openLocalStorage creates the data directory layout", async () => {
    const root = join(dataDir, "fresh", "data");
    const storage = await openLocalStorage(root);
    try {
      expect(await readdir(root)).toEqual(expect.arrayContaining(["blobs", "uploads", "metadata.db"]));
      expect(await storage.metadata.repositoryExists("acme/web" as RepositoryName)).toBe(false);
    } finally {
      storage.close();
    }
  });
});
