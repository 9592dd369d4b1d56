import { Readable } from "node:stream";
import { HeadObjectCommand, UploadPartCommand } from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { StorageUnavailableError, digestOf } from "@stratus/core";
import type { StagingState, TenantId, UploadId } from "@stratus/core";
import { expectBytes, pattern } from "../../../test/contracts/blob-store.contract.ts";
import type { S3ClientOptions } from "../src/s3-client.ts";
import { S3BlobStore } from "../src/s3-blob-store.ts";
import { MiB, createBucket, from, listKeys, listMultipartKeys, newId, removeBucket, slices, testClient } from "./s3-fixture.ts";

// Faults S3 and the network produce, injected around real radosgw traffic: only the call under test
// fails, everything else reaches radosgw, so each test ends by checking real bytes.
// - At the HTTP handler (below the SDK's retry middleware): throttling, 5xx and dropped connections,
//   which the SDK must retry by itself.
// - With aws-sdk-client-mock (replacing Client#send, above the retries): a call that still fails once
//   the SDK gave up.

const tenant = "acme" as TenantId;

type Operation = "UploadPart" | "UploadPartCopy" | "CreateMultipartUpload" | "CompleteMultipartUpload" | "other";
type Fault = "slow-down" | "internal-error" | "reset" | "lose-answer";
interface Rule {
  op: Operation;
  fault: Fault;
  /** Requests of that operation let through first. */
  after?: number;
  /** How many requests fail (default: all). */
  times?: number;
}

interface WireRequest {
  method: string;
  query: Record<string, unknown>;
  headers: Record<string, string>;
}

/** An HTTP handler over NodeHttpHandler that fails requests as the rules say and counts attempts. */
class FaultyHandler {
  private readonly inner = new NodeHttpHandler();
  private rules: Array<Rule & { seen: number; failed: number }> = [];
  readonly attempts: Record<string, number> = {};

  inject(...rules: Rule[]): void {
    this.rules = rules.map((r) => ({ ...r, seen: 0, failed: 0 }));
  }

  async handle(request: WireRequest, options?: object): Promise<unknown> {
    const op = operationOf(request);
    this.attempts[op] = (this.attempts[op] ?? 0) + 1;
    const rule = this.rules.find((r) => r.op === op);
    const fault = rule && rule.seen++ >= (rule.after ?? 0) && rule.failed < (rule.times ?? Infinity) ? rule.fault : undefined;
    if (fault) rule!.failed++;
    switch (fault) {
      case "slow-down":
        return errorResponse(503, "SlowDown", "Please reduce your request rate.");
      case "internal-error":
        return errorResponse(500, "InternalError", "We encountered an internal error. Please try again.");
      case "reset":
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      case "lose-answer": {
        // S3 did the work; the connection died before its answer arrived.
        const { response } = (await this.inner.handle(request as never, options)) as { response: { body: Readable } };
        response.body.resume();
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      }
      default:
        return this.inner.handle(request as never, options);
    }
  }

  destroy(): void {
    this.inner.destroy();
  }
}

function operationOf(request: WireRequest): Operation {
  const { method, query, headers } = request;
  const copy = Object.keys(headers).some((h) => h.toLowerCase() === "x-amz-copy-source");
  if (method === "PUT" && "partNumber" in query) return copy ? "UploadPartCopy" : "UploadPart";
  if (method === "POST" && "uploads" in query) return "CreateMultipartUpload";
  if (method === "POST" && "uploadId" in query) return "CompleteMultipartUpload";
  return "other";
}

function errorResponse(status: number, code: string, message: string) {
  const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`;
  return {
    response: { statusCode: status, reason: code, headers: { "content-type": "application/xml", "x-amz-request-id": "fault" }, body: Readable.from([Buffer.from(xml)]) },
  };
}

let handler: FaultyHandler;
let client: S3Client;
let bucket: string;
let store: S3BlobStore;

beforeAll(async () => {
  handler = new FaultyHandler();
  client = testClient({ requestHandler: handler as unknown as S3ClientOptions["requestHandler"] });
  bucket = await createBucket(client);
  store = new S3BlobStore({ client, bucket, partSize: 5 * MiB, redirect: false });
});
beforeEach(() => {
  handler.inject();
  for (const op of Object.keys(handler.attempts)) delete handler.attempts[op];
});
afterAll(async () => {
  handler.inject();
  await removeBucket(client, bucket);
  client.destroy();
});

async function stage(id: UploadId, chunks: Uint8Array[]): Promise<{ staging: StagingState; size: number }> {
  let staging = await store.createUpload(id, tenant);
  let size = 0;
  for (const chunk of chunks) {
    const result = await store.appendUpload(id, staging, size, from(chunk));
    expect(result).toMatchObject({ ok: true, size: size + chunk.byteLength });
    ({ staging, size } = result);
  }
  return { staging, size };
}

/** Commits and reads the blob back through S3. */
async function commitAndCheck(id: UploadId, staged: { staging: StagingState; size: number }, bytes: Uint8Array): Promise<string> {
  const digest = digestOf(bytes);
  const { location } = await store.commitUpload(id, staged.staging, tenant, digest, staged.size);
  const content = await store.open(tenant, { digest, size: staged.size, location: location! });
  if (content?.kind !== "stream") throw new Error("expected a stream");
  expectBytes(new Uint8Array(await new Response(content.body).arrayBuffer()), bytes);
  return location!;
}

async function exists(key: string): Promise<boolean> {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    () => false,
  );
}

describe("S3BlobStore under S3 faults", () => {
  it("retries an UploadPart that S3 throttled (503 SlowDown) and succeeds", async () => {
    handler.inject({ op: "UploadPart", fault: "slow-down", times: 1 });
    const id = newId();
    const bytes = pattern(6 * MiB, 101);
    const staged = await stage(id, [bytes]);
    expect(handler.attempts.UploadPart).toBe(2);
    await commitAndCheck(id, staged, bytes);
  });

  it("retries an UploadPart that failed with a 500 and succeeds", async () => {
    handler.inject({ op: "UploadPart", fault: "internal-error", times: 1 });
    const id = newId();
    const bytes = pattern(6 * MiB, 103);
    const staged = await stage(id, [bytes]);
    expect(handler.attempts.UploadPart).toBe(2);
    await commitAndCheck(id, staged, bytes);
  });

  it("throws StorageUnavailableError when UploadPart keeps failing; the previous state stays valid", async () => {
    const id = newId();
    const bytes = pattern(13 * MiB, 107);
    const before = await stage(id, [bytes.subarray(0, 3 * MiB)]);

    const mock = mockClient(client);
    try {
      mock.send.callThrough();
      const gaveUp = Object.assign(new Error("Service Unavailable"), { name: "ServiceUnavailable", $fault: "server", $metadata: { httpStatusCode: 503, attempts: 3 } });
      mock.on(UploadPartCommand).rejects(gaveUp);
      let pulled = 0;
      let released = false;
      const source = (async function* () {
        try {
          for (const chunk of slices(bytes.subarray(3 * MiB), MiB, MiB, MiB, MiB, MiB, MiB, MiB, MiB, MiB)) {
            pulled++;
            yield chunk;
          }
        } finally {
          released = true;
        }
      })();
      const failing = store.appendUpload(id, before.staging, before.size, source);
      await expect(failing).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(failing).rejects.toThrow(/UploadPart/);
      // It stopped reading at the failed part, and let the source go.
      expect(pulled).toBe(2);
      expect(released).toBe(true);
    } finally {
      mock.restore();
    }

    // Core kept the session's state: the client resumes from it, against radosgw.
    const rest = await store.appendUpload(id, before.staging, before.size, from(bytes.subarray(3 * MiB)));
    expect(rest).toMatchObject({ ok: true, size: bytes.byteLength });
    await commitAndCheck(id, rest, bytes);
  });

  it("fails retryably when the connection drops mid-multipart, and commits nothing", async () => {
    // The first part goes through; every attempt at the second loses its connection.
    handler.inject({ op: "UploadPart", fault: "reset", after: 1 });
    const id = newId();
    const bytes = pattern(12 * MiB, 109);
    const staging = await store.createUpload(id, tenant);
    const failing = store.appendUpload(id, staging, 0, from(...slices(bytes, 4 * MiB, 4 * MiB)));
    await expect(failing).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(failing).rejects.toThrow(/ECONNRESET/);
    expect(handler.attempts.UploadPart).toBe(1 + 3);
    handler.inject();

    expect(await exists(`acme/blobs/${id}`)).toBe(false);
    expect(await exists(`acme/digests/sha256/${digestOf(bytes).slice(7)}`)).toBe(false);
    // The upload the failed append started is the staging's to clean up.
    await store.deleteUpload(id, staging);
    expect(await listMultipartKeys(client, bucket, `acme/blobs/${id}`)).toEqual([]);
    expect(await listKeys(client, bucket, `acme/uploads/${id}/`)).toEqual([]);
  });

  it("completes a multipart upload whose CompleteMultipartUpload answer was lost", async () => {
    handler.inject({ op: "CompleteMultipartUpload", fault: "lose-answer", times: 1 });
    const id = newId();
    const bytes = pattern(7 * MiB, 113);
    const staged = await stage(id, [bytes]);
    expect(await commitAndCheck(id, staged, bytes)).toBe(`acme/blobs/${id}`);
    expect(handler.attempts.CompleteMultipartUpload).toBeGreaterThanOrEqual(2);
  });

  it("makes nothing visible when the commit fails, and commits on the next try", async () => {
    handler.inject({ op: "CompleteMultipartUpload", fault: "internal-error" });
    const id = newId();
    const bytes = pattern(8 * MiB, 127);
    const staged = await stage(id, [bytes]);
    const digest = digestOf(bytes);
    await expect(store.commitUpload(id, staged.staging, tenant, digest, staged.size)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(await exists(`acme/blobs/${id}`)).toBe(false);
    expect(await exists(`acme/digests/sha256/${digest.slice(7)}`)).toBe(false);
    handler.inject();
    expect(await commitAndCheck(id, staged, bytes)).toBe(`acme/blobs/${id}`);
  });
});
