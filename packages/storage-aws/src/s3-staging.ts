import { blobKey, checkTenant, isTailKey, uploadPrefix } from "./s3-keys.ts";
import type { AppendResult, StagingState, TenantId, UploadId } from "@stratus/core";

// An upload's staged bytes in S3, between requests that may reach different processes (DESIGN.md
// "How clients upload blobs"). The whole state travels in the upload session (core saves it):
//   parts  full parts of a multipart upload at <tenant>/blobs/<id>, created once the first part is ready
//   tail   the bytes after the last full part (less than one part), one object <tenant>/uploads/<id>/tail-…
// An append reads the tail back, prepends it, uploads every part it fills and leaves the remainder as
// a new tail. Chunks of any size work (S3 wants parts of 5 MiB, only the last may be smaller), and a
// blob smaller than one part never starts a multipart upload.
//
// An append writes only new objects and new part numbers: the state it was given stays valid until core
// has saved the one it returns (a failed append leaves the session as it was). The tail it replaced is
// listed as `obsolete` and deleted by the next operation on the upload, which proves the new state saved.

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** S3's smallest part but the last: the smallest chunk worth advertising to clients (OCI-Chunk-Min-Length). */
export const S3_MIN_PART_SIZE = 5 * MiB;
const S3_MAX_PART_SIZE = 5 * GiB;
const S3_MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 8 * MiB;
/**
 * Every 1,000 parts the part size doubles: 10,000 parts of one size would cap a blob at 80 GiB (8 MiB
 * parts), and the state grows by one ETag (about 35 bytes) per part, so a 100 GiB blob takes ~4,000
 * parts of up to 64 MiB, with a ~140 KB state, rather than 12,800 parts. Tiers stay below 10,000 parts
 * for any blob S3 can hold.
 */
const PARTS_PER_TIER = 1_000;

export type S3StagingState = {
  format: 1;
  tenant: TenantId;
  /** Size of the first parts; later tiers double it (partSizeAt). Fixed per upload, whatever the config says later. */
  partSize: number;
  /** ETags of parts 1..n, without quotes. */
  multipart?: { uploadId: string; etags: string[] };
  tail?: { key: string; size: number };
  /** Tails of the state before this one, deleted once this state is in use. */
  obsolete?: string[];
};

export function initialState(tenant: TenantId, partSize: number): S3StagingState {
  return { format: 1, tenant: checkTenant(tenant), partSize: checkPartSize(partSize) };
}

export function checkPartSize(partSize: number): number {
  if (!Number.isSafeInteger(partSize) || partSize < S3_MIN_PART_SIZE || partSize > S3_MAX_PART_SIZE) {
    throw new Error(`S3 part size ${partSize} is outside ${S3_MIN_PART_SIZE} bytes (5 MiB) to 5 GiB`);
  }
  return partSize;
}

/** The size of part `index` (0-based). */
export function partSizeAt(base: number, index: number): number {
  return Math.min(base * 2 ** Math.floor(index / PARTS_PER_TIER), S3_MAX_PART_SIZE);
}

/** Bytes in the first `count` parts. */
export function partsBytes(base: number, count: number): number {
  let total = 0;
  for (let tier = 0; tier * PARTS_PER_TIER < count; tier++) {
    total += partSizeAt(base, tier * PARTS_PER_TIER) * Math.min(PARTS_PER_TIER, count - tier * PARTS_PER_TIER);
  }
  return total;
}

export function stagedSize(state: S3StagingState): number {
  return partsBytes(state.partSize, state.multipart?.etags.length ?? 0) + (state.tail?.size ?? 0);
}

/** Whether another part may be started: S3 takes 10,000. */
export function checkPartCount(count: number): void {
  if (count >= S3_MAX_PARTS) throw new Error(`the upload reached S3's limit of ${S3_MAX_PARTS} parts`);
}

export function toStagingState(state: S3StagingState): StagingState {
  // Drop undefined members: the state is stored as JSON.
  return JSON.parse(JSON.stringify(state)) as StagingState;
}

/** The state core handed back, checked: it comes from the session store, and its keys become S3 requests. */
export function parseStagingState(id: UploadId, staging: StagingState): S3StagingState {
  const fail = (why: string): never => {
    throw new Error(`upload ${id}: not an S3 staging state (${why})`);
  };
  const { format, tenant, partSize, multipart, tail, obsolete } = staging as Partial<Record<keyof S3StagingState, unknown>>;
  if (format !== 1) fail("format");
  if (typeof tenant !== "string") return fail("tenant");
  const prefix = uploadPrefix(checkTenant(tenant), id);
  if (typeof partSize !== "number") return fail("partSize");
  checkPartSize(partSize);
  const state: S3StagingState = { format: 1, tenant: tenant as TenantId, partSize };
  let parts = 0;
  if (multipart !== undefined) {
    const { uploadId, etags } = multipart as { uploadId?: unknown; etags?: unknown };
    if (typeof uploadId !== "string" || uploadId === "") fail("multipart.uploadId");
    if (!Array.isArray(etags) || etags.length === 0 || etags.length > S3_MAX_PARTS || !etags.every((e) => typeof e === "string" && e !== "")) {
      return fail("multipart.etags");
    }
    state.multipart = { uploadId: uploadId as string, etags: etags as string[] };
    parts = etags.length;
  }
  if (tail !== undefined) {
    const { key, size } = tail as { key?: unknown; size?: unknown };
    if (typeof key !== "string" || !isTailKey(prefix, key)) fail("tail.key");
    if (!Number.isSafeInteger(size) || (size as number) <= 0 || (size as number) >= partSizeAt(partSize, parts)) fail("tail.size");
    state.tail = { key: key as string, size: size as number };
  }
  if (obsolete !== undefined) {
    if (!Array.isArray(obsolete) || !obsolete.every((k) => typeof k === "string" && isTailKey(prefix, k))) fail("obsolete");
    state.obsolete = obsolete as string[];
  }
  return state;
}

/**
 * The bytes of one part as they gather: copied in from the source's chunks (which are not retained),
 * growing as needed up to the part size, and reused for the next part. At most one part in memory.
 */
export class PartBuffer {
  private buffer = Buffer.alloc(0);
  length = 0;

  constructor(public capacity: number) {}

  /** Copies what fits of `chunk`; returns how many bytes it took. */
  write(chunk: Uint8Array): number {
    const n = Math.min(chunk.byteLength, this.capacity - this.length);
    if (this.length + n > this.buffer.byteLength) this.grow(this.length + n);
    this.buffer.set(n === chunk.byteLength ? chunk : chunk.subarray(0, n), this.length);
    this.length += n;
    return n;
  }

  get full(): boolean {
    return this.length === this.capacity;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** Empties it for the next part (whose size may be larger), keeping the memory. */
  reset(capacity: number): void {
    this.length = 0;
    this.capacity = capacity;
  }

  private grow(needed: number): void {
    const size = Math.min(this.capacity, Math.max(needed, this.buffer.byteLength * 2, 64 * KiB));
    const next = Buffer.allocUnsafe(size);
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
}

/** What an append needs from S3; S3Staging implements it over the SDK. */
export interface PartSink {
  readTail(tail: { key: string; size: number }, into: PartBuffer): Promise<void>;
  createMultipart(key: string): Promise<string>;
  uploadPart(key: string, uploadId: string, partNumber: number, bytes: Buffer): Promise<string>;
  putTail(key: string, bytes: Buffer): Promise<void>;
  deleteQuietly(keys: string[]): Promise<void>;
}

/**
 * Appends the source's bytes to the staged upload (BlobStore.appendUpload). A source that throws (the
 * client went away) still has every byte it delivered staged, as parts or a new tail, since core has
 * hashed them all; a storage failure throws, and the state passed in stays the upload's.
 */
export async function appendStaged(
  sink: PartSink,
  id: UploadId,
  state: S3StagingState,
  offset: number,
  source: AsyncIterable<Uint8Array>,
  newTailKey: (end: number) => string,
): Promise<AppendResult> {
  const before = stagedSize(state);
  if (offset !== before) throw new Error(`upload ${id}: append at byte ${offset}, but the staging state holds ${before} bytes`);
  // Core hands back the state it saved last, so the one before it, and that state's tail, are history.
  const cleanup = state.obsolete ? sink.deleteQuietly(state.obsolete) : Promise.resolve();

  const key = blobKey(state.tenant, id);
  const etags = [...(state.multipart?.etags ?? [])];
  let uploadId = state.multipart?.uploadId;
  let part: PartBuffer | undefined;
  let received = 0;
  let failure: { cause: unknown } | undefined;
  let drained = false;
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (cause) {
        failure = { cause };
        drained = true;
        break;
      }
      if (next.done) {
        drained = true;
        break;
      }
      const chunk = next.value;
      if (chunk.byteLength === 0) continue;
      if (part === undefined) {
        // The first bytes: only now is the old tail worth reading (an empty append reads nothing).
        part = new PartBuffer(partSizeAt(state.partSize, etags.length));
        if (state.tail) await sink.readTail(state.tail, part);
      }
      received += chunk.byteLength;
      for (let at = 0; at < chunk.byteLength; ) {
        at += part.write(chunk.subarray(at));
        if (!part.full) continue;
        checkPartCount(etags.length);
        uploadId ??= await sink.createMultipart(key);
        etags.push(await sink.uploadPart(key, uploadId, etags.length + 1, part.bytes()));
        part.reset(partSizeAt(state.partSize, etags.length));
      }
    }
  } finally {
    // A storage failure stops reading: let the source release what it holds.
    if (!drained) await iterator.return?.()?.catch(() => undefined);
    await cleanup;
  }

  const { obsolete: _done, ...current } = state;
  if (received === 0 || part === undefined) {
    return failure ? { ok: false, size: before, staging: toStagingState(current), cause: failure.cause } : { ok: true, size: before, staging: toStagingState(current) };
  }
  const size = before + received;
  const next: S3StagingState = { format: 1, tenant: state.tenant, partSize: state.partSize };
  if (uploadId !== undefined) next.multipart = { uploadId, etags };
  if (part.length > 0) {
    next.tail = { key: newTailKey(size), size: part.length };
    await sink.putTail(next.tail.key, part.bytes());
  }
  if (state.tail) next.obsolete = [state.tail.key];
  if (stagedSize(next) !== size) throw new Error(`upload ${id}: staged ${stagedSize(next)} bytes, expected ${size}`);
  const staging = toStagingState(next);
  return failure ? { ok: false, size, staging, cause: failure.cause } : { ok: true, size, staging };
}
