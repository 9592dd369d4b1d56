import { createHash, randomUUID } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestOf } from "@stratus/core";
import type { BlobContent, BlobRecord, BlobStore, ByteRange, Digest, TenantId, UploadId } from "@stratus/core";

// Every behaviour core relies on from a BlobStore, written against the port only: the file store
// runs it here, the S3 store (on Ceph radosgw) runs the very same suite.

export interface BlobStoreFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
  /**
   * Whether readUpload can return bytes that a multipart-sized append staged (default true). S3 cannot
   * read the parts of an unfinished multipart upload, so the S3 store must refuse instead; core needs
   * readUpload only to rebuild a lost hash state, which resumable hashing keeps with the session.
   */
  readsStagedParts?: boolean;
}

const tenantA = "acme" as TenantId;
const tenantB = "globex" as TenantId;

export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`${name} satisfies BlobStore`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;
    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    /** Stages `parts` in one append each and commits them; returns the record core would keep. */
    async function upload(tenant: TenantId, parts: Uint8Array[]): Promise<{ blob: BlobRecord; bytes: Uint8Array }> {
      const id = newId();
      let staging = await store.createUpload(id, tenant);
      let size = 0;
      for (const part of parts) {
        const result = await store.appendUpload(id, staging, size, from([part]));
        expect(result.ok).toBe(true);
        expect(result.size).toBe(size + part.byteLength);
        ({ staging, size } = result);
      }
      const bytes = concat(parts);
      const digest = digestOf(bytes);
      const { location } = await store.commitUpload(id, staging, tenant, digest, size);
      return { blob: location === undefined ? { digest, size } : { digest, size, location }, bytes };
    }

    it("commits bytes appended in several appends and serves them whole", async () => {
      const parts = [pattern(1000, 1), pattern(1, 2), pattern(70_000, 3)];
      const { blob, bytes } = await upload(tenantA, parts);
      expect(blob.size).toBe(71_001);
      const content = await store.open(tenantA, blob);
      expectBytes(await readContent(content), bytes);
      if (content?.kind === "stream") expect(content.size).toBe(bytes.byteLength);
    });

    it("serves byte ranges: first byte, last byte, middle", async () => {
      const { blob, bytes } = await upload(tenantA, [pattern(5000, 7), pattern(3000, 8)]);
      const ranges: ByteRange[] = [
        { start: 0, end: 0 },
        { start: bytes.byteLength - 1, end: bytes.byteLength - 1 },
        { start: 4990, end: 5010 },
        { start: 0, end: bytes.byteLength - 1 },
      ];
      for (const range of ranges) {
        const content = await store.open(tenantA, blob, range);
        expectBytes(await readContent(content, range), bytes.subarray(range.start, range.end + 1));
        // A stream answer gives the whole blob's size (for Content-Range) and the range it holds.
        if (content?.kind === "stream") {
          expect(content.size).toBe(bytes.byteLength);
          expect(content.range).toEqual(range);
        }
      }
    });

    it("commits an empty blob", async () => {
      const { blob, bytes } = await upload(tenantA, []);
      expect(bytes.byteLength).toBe(0);
      expectBytes(await readContent(await store.open(tenantA, blob)), new Uint8Array(0));
    });

    it("keeps the existing blob when the tenant commits the same digest again", async () => {
      const bytes = pattern(4096, 11);
      const first = await upload(tenantA, [bytes]);
      const second = await upload(tenantA, [bytes.subarray(0, 100), bytes.subarray(100)]);
      expect(second.blob).toEqual(first.blob);
      expectBytes(await readContent(await store.open(tenantA, first.blob)), bytes);
      // One copy: deleting it once leaves nothing behind.
      await store.delete(tenantA, second.blob);
      expect(await store.open(tenantA, first.blob)).toBeUndefined();
    });

    it("stores the same digest separately per tenant", async () => {
      const bytes = pattern(2048, 13);
      const a = await upload(tenantA, [bytes]);
      const b = await upload(tenantB, [bytes]);
      await store.delete(tenantA, a.blob);
      expect(await store.open(tenantA, a.blob)).toBeUndefined();
      expectBytes(await readContent(await store.open(tenantB, b.blob)), bytes);
    });

    it("reads back exactly the staged bytes", async () => {
      const id = newId();
      const staging0 = await store.createUpload(id, tenantA);
      const first = pattern(10_000, 17);
      const second = pattern(123, 19);
      const r1 = await store.appendUpload(id, staging0, 0, from([first.subarray(0, 10), first.subarray(10)]));
      const r2 = await store.appendUpload(id, r1.staging, r1.size, from([second]));
      expect(r2).toMatchObject({ ok: true, size: 10_123 });
      expectBytes(await collect(store.readUpload(id, r2.staging, r2.size)), concat([first, second]));
      expectBytes(await collect(store.readUpload(id, r1.staging, 0)), new Uint8Array(0));
      await store.deleteUpload(id, r2.staging);
    });

    it("reads back the bytes of a multipart-sized staged upload, or refuses: never other bytes", async () => {
      const id = newId();
      const bytes = pattern(12 * MiB + 5, 37);
      const r1 = await store.appendUpload(id, await store.createUpload(id, tenantA), 0, from([bytes.subarray(0, 3 * MiB), bytes.subarray(3 * MiB, 6 * MiB)]));
      const r2 = await store.appendUpload(id, r1.staging, r1.size, from([bytes.subarray(6 * MiB)]));
      expect(r2).toMatchObject({ ok: true, size: bytes.byteLength });
      if (fixture.readsStagedParts === false) {
        await expect(collect(store.readUpload(id, r2.staging, r2.size))).rejects.toThrow();
      } else {
        expectBytes(await collect(store.readUpload(id, r2.staging, r2.size)), bytes);
      }
      // Either way the staged bytes commit whole.
      const digest = digestOf(bytes);
      const { location } = await store.commitUpload(id, r2.staging, tenantA, digest, r2.size);
      const blob = location === undefined ? { digest, size: r2.size } : { digest, size: r2.size, location };
      expectBytes(await readContent(await store.open(tenantA, blob)), bytes);
    });

    it("reports the durable size when the source fails part way, and resumes from there", async () => {
      const id = newId();
      const staging0 = await store.createUpload(id, tenantA);
      const bytes = pattern(300_000, 23);
      const sent = 200_000;
      const boom = new Error("client went away");
      const result = await store.appendUpload(id, staging0, 0, failingAfter([bytes.subarray(0, 100_000), bytes.subarray(100_000, sent)], boom));
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.cause).toBe(boom);
      expect(result.size).toBeGreaterThanOrEqual(0);
      expect(result.size).toBeLessThanOrEqual(sent);
      expectBytes(await collect(store.readUpload(id, result.staging, result.size)), bytes.subarray(0, result.size));

      const rest = await store.appendUpload(id, result.staging, result.size, from([bytes.subarray(result.size)]));
      expect(rest).toMatchObject({ ok: true, size: bytes.byteLength });
      expectBytes(await collect(store.readUpload(id, rest.staging, rest.size)), bytes);
      const digest = digestOf(bytes);
      const { location } = await store.commitUpload(id, rest.staging, tenantA, digest, rest.size);
      const blob = location === undefined ? { digest, size: rest.size } : { digest, size: rest.size, location };
      expectBytes(await readContent(await store.open(tenantA, blob)), bytes);
    });

    it("deletes staged uploads idempotently", async () => {
      const id = newId();
      const staging = await store.createUpload(id, tenantA);
      const r = await store.appendUpload(id, staging, 0, from([pattern(10, 1)]));
      await store.deleteUpload(id, r.staging);
      await store.deleteUpload(id, r.staging);
    });

    it("answers undefined for a blob never committed", async () => {
      const bytes = pattern(10, 29);
      expect(await store.open(tenantA, { digest: digestOf(bytes), size: 10 })).toBeUndefined();
    });

    it("deletes committed blobs idempotently; a deleted blob opens as undefined", async () => {
      const { blob } = await upload(tenantA, [pattern(500, 31)]);
      await store.delete(tenantA, blob);
      expect(await store.open(tenantA, blob)).toBeUndefined();
      expect(await store.open(tenantA, blob, { start: 0, end: 0 })).toBeUndefined();
      await store.delete(tenantA, blob);
      await store.delete(tenantB, blob);
    });

    it("appends and serves a large blob in bounded memory", async () => {
      const total = 64 * MiB;
      // Sixteen immutable 1 MiB blocks, yielded as fresh views: a store that copies the source into
      // memory grows by the blob's size, a streaming one by a few MiB.
      const blocks = Array.from({ length: 16 }, (_, i) => pattern(MiB, 100 + i));
      const expected = createHash("sha256");
      for (let i = 0; i < total / MiB; i++) expected.update(blocks[i % 16]!);
      const digest = `sha256:${expected.digest("hex")}` as Digest;

      // Resident memory is sampled every 8 MiB on both sides, after a collection where one is to
      // be had: garbage awaiting collection is not the store's doing, a buffered blob is.
      const rss = rssSampler();
      const id = newId();
      const staging = await store.createUpload(id, tenantA);
      const result = await store.appendUpload(id, staging, 0, (async function* () {
        for (let i = 0; i < total / MiB; i++) {
          if (i % 8 === 7) rss.sample();
          yield blocks[i % 16]!.subarray(0);
        }
      })());
      expect(result).toMatchObject({ ok: true, size: total });
      const { location } = await store.commitUpload(id, result.staging, tenantA, digest, total);
      const blob = location === undefined ? { digest, size: total } : { digest, size: total, location };

      const content = await store.open(tenantA, blob);
      const hash = createHash("sha256");
      let read = 0;
      for await (const chunk of contentBody(content)) {
        hash.update(chunk);
        if (Math.floor((read + chunk.byteLength) / (8 * MiB)) > Math.floor(read / (8 * MiB))) rss.sample();
        read += chunk.byteLength;
      }
      const growth = rss.peakGrowth();
      if (process.env.STRATUS_DEBUG_RSS) console.log(`rss growth ${(growth / MiB).toFixed(1)} MiB`);
      expect(read).toBe(total);
      expect(`sha256:${hash.digest("hex")}`).toBe(digest);
      // Generous, so it cannot flake (a streaming store measures about 16 MiB here: allocator
      // retention of read buffers); buffering the blob would cost 64 MiB or more.
      expect(growth).toBeLessThan(40 * MiB);
    });
  });
}

const MiB = 1024 * 1024;

/** Byte equality without the element-by-element diff of toEqual, which is slow on large arrays. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected);
  if (!same) {
    let at = 0;
    while (at < Math.min(actual.byteLength, expected.byteLength) && actual[at] === expected[at]) at++;
    expect.fail(`bytes differ: got ${actual.byteLength} bytes, expected ${expected.byteLength}, first difference at ${at}`);
  }
}

function newId(): UploadId {
  return randomUUID() as UploadId;
}

/** Deterministic, seed-dependent bytes, so a misplaced chunk shows. */
export function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

async function* from(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
}

async function* failingAfter(parts: Uint8Array[], error: Error): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
  throw error;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(new Uint8Array(chunk));
  return concat(parts);
}

/** The body of a stream answer, or of a redirect followed as a client would (with its Range). */
async function* contentBody(content: BlobContent | undefined, range?: ByteRange): AsyncIterable<Uint8Array> {
  if (!content) throw new Error("blob not found");
  if (content.kind === "stream") {
    yield* content.body as unknown as AsyncIterable<Uint8Array>;
    return;
  }
  const headers: Record<string, string> = range ? { range: `bytes=${range.start}-${range.end}` } : {};
  const response = await fetch(content.url, { headers });
  if (!response.ok || !response.body) throw new Error(`redirect target answered ${response.status}`);
  yield* response.body as unknown as AsyncIterable<Uint8Array>;
}

async function readContent(content: BlobContent | undefined, range?: ByteRange): Promise<Uint8Array> {
  return collect(contentBody(content, range));
}

/** Peak growth of the resident set over explicit samples, each after a full collection when one can be forced. */
function rssSampler(): { sample(): void; peakGrowth(): number } {
  const gc = forcedCollection();
  const measure = () => {
    gc?.();
    return process.memoryUsage().rss;
  };
  const base = measure();
  let peak = base;
  return {
    sample() {
      peak = Math.max(peak, measure());
    },
    peakGrowth: () => peak - base,
  };
}

/** V8's gc(), exposed at run time (the test runner starts workers without --expose-gc); undefined if refused. */
function forcedCollection(): (() => void) | undefined {
  try {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}
