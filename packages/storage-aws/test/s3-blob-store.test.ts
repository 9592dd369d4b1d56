import { CreateMultipartUploadCommand, DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf } from "@stratus/core";
import type { BlobRecord, Digest, StagingState, TenantId, UploadId } from "@stratus/core";
import { blobStoreContract, expectBytes, pattern } from "../../../test/contracts/blob-store.contract.ts";
import { createS3Client } from "../src/s3-client.ts";
import { S3BlobStore } from "../src/s3-blob-store.ts";
import type { S3BlobStoreOptions } from "../src/s3-blob-store.ts";
import type { S3StagingState } from "../src/s3-staging.ts";
import { MiB, collect, createBucket, failingAfter, from, listKeys, listMultipartKeys, newId, removeBucket, slices, testClient } from "./s3-fixture.ts";

// The S3 store against Ceph radosgw (started once per run by test/aws/global-setup.ts), with 5 MiB
// parts: S3's minimum, which radosgw enforces as S3 does.

const tenant = "acme" as TenantId;
let client: S3Client;
let bucket: string;

beforeAll(async () => {
  client = testClient();
  bucket = await createBucket(client);
});
afterAll(async () => {
  await removeBucket(client, bucket);
  client.destroy();
});

function makeStore(options: Partial<S3BlobStoreOptions> = {}): S3BlobStore {
  return new S3BlobStore({ client, bucket, partSize: 5 * MiB, redirect: false, ...options });
}

// The contract reads bytes back through open(): the fixture streams; the redirect is tested below.
blobStoreContract("S3BlobStore on radosgw", async () => ({ store: makeStore(), cleanup: async () => {}, readsStagedParts: false }));

/** Stages `chunks`, one append each; returns the final append's result. */
async function stage(store: S3BlobStore, id: UploadId, chunks: Uint8Array[]): Promise<{ staging: StagingState; size: number }> {
  let staging = await store.createUpload(id, tenant);
  let size = 0;
  for (const chunk of chunks) {
    const result = await store.appendUpload(id, staging, size, from(chunk));
    expect(result).toMatchObject({ ok: true, size: size + chunk.byteLength });
    ({ staging, size } = result);
  }
  return { staging, size };
}

async function commit(store: S3BlobStore, id: UploadId, staged: { staging: StagingState; size: number }, bytes: Uint8Array): Promise<BlobRecord> {
  const digest = digestOf(bytes);
  const { location } = await store.commitUpload(id, staged.staging, tenant, digest, staged.size);
  expect(location).toBeDefined();
  return { digest, size: staged.size, location: location! };
}

async function readBlob(store: S3BlobStore, blob: BlobRecord): Promise<Uint8Array> {
  const content = await store.open(tenant, blob);
  if (content?.kind !== "stream") throw new Error(`expected a stream, got ${content?.kind}`);
  return new Uint8Array(await new Response(content.body).arrayBuffer());
}

const stateOf = (staging: StagingState) => staging as unknown as S3StagingState;

describe("S3BlobStore staging", () => {
  it("cuts appends of 4 MiB into 5 MiB parts, carrying the remainder as a tail", async () => {
    const store = makeStore();
    const id = newId();
    const bytes = pattern(12 * MiB, 41);
    const staged = await stage(store, id, slices(bytes, 4 * MiB, 4 * MiB));
    // 12 MiB = two 5 MiB parts and a 2 MiB tail; the tails the appends replaced are gone or going.
    expect(stateOf(staged.staging).multipart?.etags).toHaveLength(2);
    expect(stateOf(staged.staging).tail?.size).toBe(2 * MiB);
    const blob = await commit(store, id, staged, bytes);
    expect(blob.location).toBe(`acme/blobs/${id}`);
    expectBytes(await readBlob(store, blob), bytes);
    // Nothing staged is left: the blob, and the digest index entry.
    expect(await listKeys(client, bucket, `acme/uploads/${id}/`)).toEqual([]);
    expect(await listMultipartKeys(client, bucket, `acme/blobs/${id}`)).toEqual([]);
  });

  it("uploads a 12 MiB append as two parts and a tail, and commits it", async () => {
    const store = makeStore();
    const id = newId();
    const bytes = pattern(12 * MiB + 1, 43);
    const staged = await stage(store, id, [bytes.subarray(0, 1000), bytes.subarray(1000)]);
    expect(stateOf(staged.staging).multipart?.etags).toHaveLength(2);
    const blob = await commit(store, id, staged, bytes);
    expectBytes(await readBlob(store, blob), bytes);
  });

  it("commits a blob that ends on a part boundary (no tail)", async () => {
    const store = makeStore();
    const id = newId();
    const bytes = pattern(10 * MiB, 47);
    const staged = await stage(store, id, [bytes]);
    expect(stateOf(staged.staging).tail).toBeUndefined();
    expectBytes(await readBlob(store, await commit(store, id, staged, bytes)), bytes);
  });

  it("commits a blob smaller than a part where its tail lies, without a multipart upload", async () => {
    const store = makeStore();
    const id = newId();
    const bytes = pattern(3 * MiB, 53);
    const staged = await stage(store, id, slices(bytes, MiB, MiB));
    expect(stateOf(staged.staging).multipart).toBeUndefined();
    const blob = await commit(store, id, staged, bytes);
    expect(blob.location).toBe(stateOf(staged.staging).tail?.key);
    expect(blob.location).toMatch(new RegExp(`^acme/uploads/${id}/tail-`));
    // The tails the appends replaced are swept; the one that became the blob stays.
    expect(await listKeys(client, bucket, `acme/uploads/${id}/`)).toEqual([blob.location]);
    // Core may discard a session that outlived its commit: the blob must survive that.
    await store.deleteUpload(id, staged.staging);
    expectBytes(await readBlob(store, blob), bytes);
  });

  it("commits again to the same location when a commit is repeated (its first answer lost)", async () => {
    const store = makeStore();
    for (const length of [7 * MiB, 2 * MiB]) {
      const id = newId();
      const bytes = pattern(length, 57 + length);
      const staged = await stage(store, id, [bytes]);
      const first = await commit(store, id, staged, bytes);
      const again = await commit(store, id, staged, bytes);
      expect(again).toEqual(first);
      // Core then finds the blob recorded and discards the session's staging: the blob stays.
      await store.deleteUpload(id, staged.staging);
      expectBytes(await readBlob(store, first), bytes);
    }
  });

  it("commits an empty blob as an empty object", async () => {
    const store = makeStore();
    const id = newId();
    const staged = await stage(store, id, []);
    const blob = await commit(store, id, staged, new Uint8Array(0));
    // The contract committed the empty blob for this tenant already: either upload's object stands.
    expect(blob.location).toMatch(/^acme\/blobs\/[0-9a-f-]{36}$/);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: blob.location }));
    expect(head.ContentLength).toBe(0);
  });

  it("keeps a state valid after a later append: core may not have saved the newer one", async () => {
    const store = makeStore();
    const id = newId();
    const bytes = pattern(9 * MiB, 59);
    const first = await stage(store, id, [bytes.subarray(0, 3 * MiB)]);
    // An append whose new state core failed to save...
    const lost = await store.appendUpload(id, first.staging, first.size, from(pattern(4 * MiB, 60)));
    expect(lost.ok).toBe(true);
    // ...so the client resumes from the old state, with other bytes.
    const second = await store.appendUpload(id, first.staging, first.size, from(bytes.subarray(3 * MiB)));
    expect(second).toMatchObject({ ok: true, size: bytes.byteLength });
    expectBytes(await readBlob(store, await commit(store, id, second, bytes)), bytes);
  });

  it("stages every byte received before the source failed, and resumes from there", async () => {
    const store = makeStore();
    const id = newId();
    const bytes = pattern(11 * MiB, 61);
    const boom = new Error("client went away");
    const source = failingAfter(slices(bytes.subarray(0, 6 * MiB), MiB, MiB, MiB, MiB, MiB), boom);
    const failed = await store.appendUpload(id, await store.createUpload(id, tenant), 0, source);
    expect(failed).toMatchObject({ ok: false, size: 6 * MiB, cause: boom });
    expect(stateOf(failed.staging).multipart?.etags).toHaveLength(1);
    expect(stateOf(failed.staging).tail?.size).toBe(MiB);
    const rest = await store.appendUpload(id, failed.staging, failed.size, from(bytes.subarray(6 * MiB)));
    expect(rest).toMatchObject({ ok: true, size: bytes.byteLength });
    expectBytes(await readBlob(store, await commit(store, id, rest, bytes)), bytes);
  });

  it("aborts the multipart upload and deletes the tails on deleteUpload, idempotently", async () => {
    const store = makeStore();
    const id = newId();
    const staged = await stage(store, id, [pattern(7 * MiB, 67)]);
    // An upload a failed append started and no state recorded: found by its key, aborted too.
    await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `acme/blobs/${id}` }));
    expect(await listMultipartKeys(client, bucket, `acme/blobs/${id}`)).toHaveLength(2);
    expect(await listKeys(client, bucket, `acme/uploads/${id}/`)).toHaveLength(1);
    await store.deleteUpload(id, staged.staging);
    expect(await listMultipartKeys(client, bucket, `acme/blobs/${id}`)).toEqual([]);
    expect(await listKeys(client, bucket, `acme/uploads/${id}/`)).toEqual([]);
    await store.deleteUpload(id, staged.staging);
  });

  it("reads back a staged tail, and refuses once bytes are in multipart parts", async () => {
    const store = makeStore();
    const id = newId();
    const bytes = pattern(6 * MiB, 71);
    const small = await stage(store, id, [bytes.subarray(0, 2 * MiB)]);
    expectBytes(await collect(store.readUpload(id, small.staging, small.size)), bytes.subarray(0, 2 * MiB));
    expectBytes(await collect(store.readUpload(id, small.staging, 1000)), bytes.subarray(0, 1000));
    const big = await store.appendUpload(id, small.staging, small.size, from(bytes.subarray(2 * MiB)));
    await expect(collect(store.readUpload(id, big.staging, big.size))).rejects.toThrow(/cannot read back/);
    await store.deleteUpload(id, big.staging);
  });

  it("replaces a digest index entry whose blob is gone", async () => {
    const store = makeStore();
    const bytes = pattern(1000, 73);
    const id1 = newId();
    const first = await commit(store, id1, await stage(store, id1, [bytes]), bytes);
    // The blob vanished but its index entry stayed (a delete interrupted between the two).
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: first.location }));
    const id2 = newId();
    const second = await commit(store, id2, await stage(store, id2, [bytes]), bytes);
    expect(second.location).not.toBe(first.location);
    expectBytes(await readBlob(store, second), bytes);
    expectBytes(await readBlob(store, { digest: second.digest, size: second.size }), bytes);
  });

  it("refuses tenants that are not namespaces and serves no other tenant's key", async () => {
    const store = makeStore();
    await expect(store.createUpload(newId(), "../x" as TenantId)).rejects.toThrow(/tenant/);
    await expect(store.createUpload(newId(), "Acme" as TenantId)).rejects.toThrow(/tenant/);
    await expect(store.createUpload("not-a-uuid" as UploadId, tenant)).rejects.toThrow(/UUID/);
    const bytes = pattern(100, 79);
    const id = newId();
    const blob = await commit(store, id, await stage(store, id, [bytes]), bytes);
    expect(await store.open("globex" as TenantId, blob)).toBeUndefined();
    await store.delete("globex" as TenantId, blob);
    expectBytes(await readBlob(store, blob), bytes);
    await expect(store.open(tenant, { ...blob, location: "acme/elsewhere" })).rejects.toThrow(/not a key of this store/);
  });
});

describe("S3BlobStore presigned GET", () => {
  it("redirects to a URL that serves the blob, whole and by Range, with no checksum parameter", async () => {
    const store = makeStore({ redirect: true });
    const bytes = pattern(6 * MiB + 3, 83);
    const id = newId();
    const blob = await commit(store, id, await stage(store, id, [bytes]), bytes);
    const content = await store.open(tenant, blob, { start: 10, end: 20 });
    expect(content?.kind).toBe("redirect");
    if (content?.kind !== "redirect") return;
    const url = new URL(content.url);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    const params = [...url.searchParams.keys()].map((k) => k.toLowerCase());
    expect(params.filter((k) => k.startsWith("x-amz-checksum") || k === "x-amz-sdk-checksum-algorithm")).toEqual([]);

    const whole = await fetch(content.url);
    expect(whole.status).toBe(200);
    expectBytes(new Uint8Array(await whole.arrayBuffer()), bytes);
    const ranged = await fetch(content.url, { headers: { range: "bytes=5242870-5242889" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 5242870-5242889/${bytes.byteLength}`);
    expectBytes(new Uint8Array(await ranged.arrayBuffer()), bytes.subarray(5242870, 5242890));
  });

  it("signs locally, without a request to S3, for the configured lifetime", async () => {
    let requests = 0;
    // Port 1 on loopback: nothing listens there, and the handler would count any request made.
    const offline = createS3Client({
      region: "us-east-1",
      endpoint: "http://127.0.0.1:1",
      credentials: { accessKeyId: "AKIDOFFLINE", secretAccessKey: "offline" },
      requestHandler: {
        handle: async () => {
          requests++;
          throw new Error("no network call expected");
        },
      },
    });
    const store = new S3BlobStore({ client: offline, bucket: "b", presignExpiresInSeconds: 60 });
    const digest = digestOf(new Uint8Array([1])) as Digest;
    const content = await store.open(tenant, { digest, size: 1, location: `acme/blobs/${newId()}` });
    expect(content?.kind).toBe("redirect");
    if (content?.kind !== "redirect") return;
    expect(requests).toBe(0);
    const url = new URL(content.url);
    expect(url.origin + url.pathname).toMatch(/^http:\/\/127\.0\.0\.1:1\/b\/acme\/blobs\//);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("60");
    expect([...url.searchParams.keys()].some((k) => /checksum/i.test(k))).toBe(false);
  });

  it("rejects part sizes S3 would refuse and unusable URL lifetimes", () => {
    expect(() => makeStore({ partSize: 5 * MiB - 1 })).toThrow(/5 MiB/);
    expect(() => makeStore({ presignExpiresInSeconds: 0 })).toThrow(/expiry/);
  });
});
