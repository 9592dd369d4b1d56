import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { StorageUnavailableError, digestAlgorithm, digestHex, tryParseDigest } from "@stratus/core";
import type { AppendResult, BlobContent, BlobRecord, BlobStore, ByteRange, Digest, StagingState, TenantId, UploadId } from "@stratus/core";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "./private-files.ts";

const READ_CHUNK = 1024 * 1024;

// Blobs as files (DESIGN.md "Local embedded default"):
//   <dataDir>/blobs/<tenant>/<algorithm>/<first two hex>/<hex>   committed, content-addressed, per tenant
//   <dataDir>/uploads/<id>                                        staged bytes of an upload
// A digest path only ever receives a complete, fsync'd file by rename, so a reader (or a crash) never
// sees a partial blob. The upload's size lives in the session (core); the staged file can only be
// longer than it (a crash between write and session update), so an append first truncates to it.
// Files are created 0600 and directories 0700 (private-files.ts); a committed blob is its staged
// file renamed, so it keeps that mode.

export interface FileBlobStoreOptions {
  dataDir: string;
}

// Ids come from core as UUIDs; tenants are namespace components or "default" (DESIGN.md "Tenancy").
// Checked anyway: these strings become path segments, and nothing may escape dataDir.
const UPLOAD_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TENANT = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

// Small chunks (a client writing 4 KiB at a time) are gathered into one write of up to this size.
const WRITE_BATCH = 1024 * 1024;

export class FileBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;

  constructor(options: FileBlobStoreOptions) {
    // Absolute, so the directories mkdir reports compare with the ones we name.
    this.blobsDir = resolve(options.dataDir, "blobs");
    this.uploadsDir = resolve(options.dataDir, "uploads");
  }

  async createUpload(id: UploadId, tenant: TenantId): Promise<StagingState> {
    const path = this.uploadPath(id);
    checkTenant(tenant);
    await fsCall("create upload", async () => {
      await mkdir(this.uploadsDir, { recursive: true, mode: PRIVATE_DIR_MODE });
      // "w" so a reused id never inherits bytes; the empty file makes a zero-byte upload committable.
      const fh = await open(path, "w", PRIVATE_FILE_MODE);
      await closeAfter(fh, () => fh.sync());
    });
    // Everything is derived from the id; nothing to carry between requests.
    return {};
  }

  async appendUpload(id: UploadId, _staging: StagingState, offset: number, source: AsyncIterable<Uint8Array>): Promise<AppendResult> {
    const path = this.uploadPath(id);
    const fh = await fsCall("open staged upload", async () => {
      const handle = await open(path, "r+");
      const { size } = await handle.stat();
      if (size < offset) {
        await handle.close();
        throw new StorageUnavailableError(`staged upload ${id} holds ${size} bytes, fewer than the ${offset} recorded`);
      }
      // Bytes past the recorded offset were written by a request that never reported success.
      if (size > offset) await handle.truncate(offset);
      return handle;
    });

    return closeAfter(fh, async () => {
      let position = offset;
      let cause: unknown;
      let failed = false;
      let batch: Uint8Array[] = [];
      let batched = 0;
      const flush = async () => {
        if (batched === 0) return;
        const chunks = batch;
        batch = [];
        batched = 0;
        await fsCall("write staged upload", async () => {
          let written = 0;
          const total = chunks.reduce((n, c) => n + c.byteLength, 0);
          // writev may write short; loop until every byte of the batch is down.
          while (written < total) {
            const { bytesWritten } = await fh.writev(remainder(chunks, written), position + written);
            written += bytesWritten;
          }
          position += total;
        });
      };

      const iterator = source[Symbol.asyncIterator]();
      let done = false;
      try {
        while (true) {
          let next: IteratorResult<Uint8Array>;
          try {
            next = await iterator.next();
          } catch (error) {
            // The source failed (client gone): keep what arrived, report how much is durable.
            failed = true;
            cause = error;
            done = true;
            break;
          }
          if (next.done) {
            done = true;
            break;
          }
          if (next.value.byteLength === 0) continue;
          batch.push(next.value);
          batched += next.value.byteLength;
          if (batched >= WRITE_BATCH) await flush();
        }
        await flush();
        await fsCall("sync staged upload", () => fh.sync());
      } finally {
        // A storage failure stops reading: let the source release what it holds.
        if (!done) await iterator.return?.().catch(() => undefined);
      }
      const size = position;
      return failed ? { ok: false, size, staging: {}, cause } : { ok: true, size, staging: {} };
    });
  }

  async *readUpload(id: UploadId, _staging: StagingState, size: number): AsyncIterable<Uint8Array> {
    const path = this.uploadPath(id);
    if (size === 0) return;
    let read = 0;
    try {
      for await (const chunk of createReadStream(path, { start: 0, end: size - 1, highWaterMark: READ_CHUNK })) {
        read += (chunk as Buffer).byteLength;
        yield chunk as Buffer;
      }
    } catch (error) {
      throw unavailable("read staged upload", error);
    }
    if (read !== size) throw new StorageUnavailableError(`staged upload ${id} holds ${read} bytes, fewer than the ${size} recorded`);
  }

  async commitUpload(id: UploadId, _staging: StagingState, tenant: TenantId, digest: Digest, size: number): Promise<{ location?: string }> {
    const staged = this.uploadPath(id);
    const target = this.blobPath(tenant, digest);
    return fsCall("commit upload", async () => {
      // Content-addressed: an existing file under this digest holds these very bytes. Keep it.
      if (await exists(target)) {
        await rm(staged, { force: true });
        return {};
      }
      const fh = await open(staged, "r+");
      await closeAfter(fh, async () => {
        const { size: staged } = await fh.stat();
        if (staged < size) throw new StorageUnavailableError(`staged upload ${id} holds ${staged} bytes, fewer than the ${size} committed`);
        if (staged > size) await fh.truncate(size);
        await fh.sync();
      });
      const dir = dirname(target);
      const firstCreated = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      await rename(staged, target);
      // Make the rename durable, and every directory mkdir just made along with it.
      const dirs = [dir];
      if (firstCreated !== undefined) {
        const top = dirname(firstCreated);
        for (let d = dir; d !== top && d !== dirname(d); d = dirname(d)) dirs.push(dirname(d));
      }
      for (const d of new Set(dirs)) await syncDirectory(d);
      return {};
    });
  }

  async deleteUpload(id: UploadId, _staging: StagingState): Promise<void> {
    const path = this.uploadPath(id);
    await fsCall("delete upload", () => rm(path, { force: true }));
  }

  async open(tenant: TenantId, blob: BlobRecord, range?: ByteRange): Promise<BlobContent | undefined> {
    const path = this.blobPath(tenant, blob.digest);
    // Open first, then stat the handle: the bytes served are the ones stat describes, even if the
    // blob is deleted meanwhile (the open descriptor keeps them).
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (error) {
      if (isCode(error, "ENOENT")) return undefined;
      throw unavailable("open blob", error);
    }
    try {
      const { size } = await fh.stat();
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size - 1, size - 1);
      const empty = size === 0 || start > end;
      // createReadStream over the handle closes it at end, error or destroy (a cancelled web stream).
      // 1 MiB reads: with the default 64 KiB, per-chunk stream overhead caps a pull at a quarter of disk speed.
      const nodeStream = empty ? Readable.from([]) : fh.createReadStream({ start, end, highWaterMark: READ_CHUNK });
      if (empty) await fh.close();
      const body = Readable.toWeb(nodeStream) as unknown as ReadableStream<Uint8Array>;
      return range ? { kind: "stream", body, size, range: { start, end } } : { kind: "stream", body, size };
    } catch (error) {
      await fh.close().catch(() => undefined);
      throw unavailable("open blob", error);
    }
  }

  async delete(tenant: TenantId, blob: BlobRecord): Promise<void> {
    const path = this.blobPath(tenant, blob.digest);
    await fsCall("delete blob", () => rm(path, { force: true }));
  }

  private uploadPath(id: UploadId): string {
    if (!UPLOAD_ID.test(id)) throw new Error(`upload id ${JSON.stringify(id)} is not a UUID`);
    return join(this.uploadsDir, id.toLowerCase());
  }

  private blobPath(tenant: TenantId, digest: Digest): string {
    checkTenant(tenant);
    if (tryParseDigest(digest) === undefined) throw new Error(`not a digest: ${JSON.stringify(digest)}`);
    const hex = digestHex(digest);
    const path = join(this.blobsDir, tenant, digestAlgorithm(digest), hex.slice(0, 2), hex);
    // Belt and braces: the checks above already keep every segment inside blobs/.
    if (relative(this.blobsDir, path).startsWith(`..${sep}`)) throw new Error("blob path escapes the data directory");
    return path;
  }
}

function checkTenant(tenant: TenantId): void {
  if (tenant !== "default" && !TENANT.test(tenant)) throw new Error(`tenant ${JSON.stringify(tenant)} is not a valid namespace`);
}

/** The chunks from byte `skip` on, for the rest of a short writev. */
function remainder(chunks: Uint8Array[], skip: number): Uint8Array[] {
  if (skip === 0) return chunks;
  const rest: Uint8Array[] = [];
  for (const chunk of chunks) {
    if (skip >= chunk.byteLength) {
      skip -= chunk.byteLength;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}

async function closeAfter<T>(fh: FileHandle, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isCode(error, "ENOENT")) return false;
    throw error;
  }
}

async function syncDirectory(path: string): Promise<void> {
  const fh = await open(path, "r");
  await closeAfter(fh, () => fh.sync());
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

/** Runs a file operation; any filesystem failure (ENOSPC, EIO, EACCES, ...) becomes StorageUnavailableError. */
async function fsCall<T>(what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw unavailable(what, error);
  }
}

function unavailable(what: string, error: unknown): Error {
  if (error instanceof StorageUnavailableError) return error;
  // Errors without an errno code are our own bugs, not the disk's; let them through as they are.
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== "string") return error as Error;
  return new StorageUnavailableError(`${what}: ${code}`, { cause: error });
}
