import { randomUUID } from "node:crypto";
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, AbortMultipartUploadCommand } from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";
import type { UploadId } from "@stratus/core";
import { awsBackends, uniqueName } from "../../../test/aws/support/backends.ts";
import { createS3Client } from "../src/s3-client.ts";
import type { S3ClientOptions } from "../src/s3-client.ts";

// Shared by the S3 test files: a client on the run's radosgw and a bucket per test file.

export const MiB = 1024 * 1024;

export function testClient(overrides: Partial<S3ClientOptions> = {}): S3Client {
  const backends = awsBackends();
  return createS3Client({
    region: backends.region,
    endpoint: backends.s3Endpoint,
    credentials: { accessKeyId: backends.accessKeyId, secretAccessKey: backends.secretAccessKey },
    ...overrides,
  });
}

export async function createBucket(client: S3Client): Promise<string> {
  const bucket = uniqueName("stratus-blobs");
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Empties and removes the bucket: radosgw holds it in RAM for the rest of the run otherwise. */
export async function removeBucket(client: S3Client, bucket: string): Promise<void> {
  for (const upload of (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
  }
  for (const key of await listKeys(client, bucket)) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

export async function listKeys(client: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    keys.push(...(out.Contents ?? []).map((o) => o.Key!));
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

export async function listMultipartKeys(client: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (out.Uploads ?? []).map((u) => u.Key!);
}

export function newId(): UploadId {
  return randomUUID() as UploadId;
}

export async function* from(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

/** Yields `parts`, then fails as a client that went away; `released` tells whether the reader let go. */
export function failingAfter(parts: Uint8Array[], error: Error): AsyncIterable<Uint8Array> & { released: () => boolean } {
  let released = false;
  const iterable = (async function* () {
    try {
      yield* parts;
      throw error;
    } finally {
      released = true;
    }
  })();
  return Object.assign(iterable, { released: () => released });
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(new Uint8Array(chunk));
  return Buffer.concat(chunks);
}

/** Slices `bytes` into chunks of the given lengths (the last takes the rest). */
export function slices(bytes: Uint8Array, ...lengths: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const length of lengths) {
    out.push(bytes.subarray(at, at + length));
    at += length;
  }
  if (at < bytes.byteLength) out.push(bytes.subarray(at));
  return out;
}
