import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import type { GetObjectCommandOutput, S3Client } from "@aws-sdk/client-s3";
import { StorageUnavailableError } from "@stratus/core";
import { isNoSuchUpload, isNotFound, isPreconditionFailed, s3Call, unavailable } from "./s3-client.ts";
import type { PartBuffer, PartSink } from "./s3-staging.ts";

// The S3 requests the blob store makes, one method each, failures translated at this edge: a missing
// key is `undefined`, an S3 or network failure StorageUnavailableError (s3Call). Bodies are Buffers, so
// every upload carries a Content-Length (radosgw refuses aws-chunked bodies) and the SDK can retry it.

const OCTET_STREAM = "application/octet-stream";
/** Marks a tail object committed as a blob, so discarding the upload's staging spares it. */
const COMMITTED = { Key: "stratus-blob", Value: "committed" };
const DELETE_CONCURRENCY = 8;

export interface ObjectInfo {
  size: number;
  etag: string;
}

export class S3Objects implements PartSink {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: out.ContentLength ?? 0, etag: out.ETag ?? "" };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw unavailable("HeadObject", error);
    }
  }

  /** The object's bytes, or the inclusive range of them; undefined if there is no such key. */
  async get(key: string, range?: { start: number; end: number }): Promise<GetObjectCommandOutput | undefined> {
    try {
      return await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw unavailable("GetObject", error);
    }
  }

  /** Writes the object; with a condition, false when it does not hold. */
  async put(key: string, body: Buffer, options: { ifNoneMatch?: "*"; ifMatch?: string } = {}): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          ContentType: OCTET_STREAM,
          ...(options.ifNoneMatch ? { IfNoneMatch: options.ifNoneMatch } : {}),
          ...(options.ifMatch ? { IfMatch: options.ifMatch } : {}),
        }),
      );
      return true;
    } catch (error) {
      // A conditional write lost to another writer (S3 answers 409 when two race at once).
      const conditional = options.ifMatch !== undefined || options.ifNoneMatch !== undefined;
      if (conditional && (isPreconditionFailed(error) || (error as { name?: string }).name === "ConditionalRequestConflict")) return false;
      throw unavailable("PutObject", error);
    }
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a key that is not there: deleting is idempotent as it is.
    await s3Call("DeleteObject", () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  /** Deletes what it can: for objects nothing references any more, so a failure leaves garbage, not damage. */
  async deleteQuietly(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
      await Promise.allSettled(keys.slice(i, i + DELETE_CONCURRENCY).map((key) => this.delete(key)));
    }
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await s3Call("ListObjectsV2", () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) })),
      );
      for (const object of out.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async markCommitted(key: string): Promise<void> {
    await s3Call("PutObjectTagging", () =>
      this.client.send(new PutObjectTaggingCommand({ Bucket: this.bucket, Key: key, Tagging: { TagSet: [COMMITTED] } })),
    );
  }

  async isCommitted(key: string): Promise<boolean> {
    try {
      const out = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: key }));
      return (out.TagSet ?? []).some((tag) => tag.Key === COMMITTED.Key && tag.Value === COMMITTED.Value);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw unavailable("GetObjectTagging", error);
    }
  }

  // Multipart uploads.

  async createMultipart(key: string): Promise<string> {
    const out = await s3Call("CreateMultipartUpload", () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: OCTET_STREAM })),
    );
    if (!out.UploadId) throw new StorageUnavailableError("S3 CreateMultipartUpload answered without an UploadId");
    return out.UploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, bytes: Buffer): Promise<string> {
    const out = await s3Call("UploadPart", () =>
      this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: bytes, ContentLength: bytes.byteLength }),
      ),
    );
    return bareEtag(out.ETag, "UploadPart");
  }

  /** Server-side copy of a (small) tail object into the last part: its bytes need not pass through us. */
  async copyPart(key: string, uploadId: string, partNumber: number, sourceKey: string): Promise<string> {
    const out = await s3Call("UploadPartCopy", () =>
      this.client.send(
        // Our keys are [a-z0-9._/-] only: nothing in CopySource needs URL-encoding.
        new UploadPartCopyCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, CopySource: `${this.bucket}/${sourceKey}` }),
      ),
    );
    return bareEtag(out.CopyPartResult?.ETag, "UploadPartCopy");
  }

  /** Completes the upload; false when S3 knows no such upload (completed before, or aborted). */
  async completeMultipart(key: string, uploadId: string, etags: string[]): Promise<boolean> {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: etags.map((etag, i) => ({ PartNumber: i + 1, ETag: `"${etag}"` })) },
        }),
      );
      return true;
    } catch (error) {
      if (isNoSuchUpload(error)) return false;
      throw unavailable("CompleteMultipartUpload", error);
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (error) {
      if (isNoSuchUpload(error) || isNotFound(error)) return;
      throw unavailable("AbortMultipartUpload", error);
    }
  }

  /** Ids of the unfinished multipart uploads to exactly `key`. */
  async listMultipart(key: string): Promise<string[]> {
    const ids: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const out = await s3Call("ListMultipartUploads", () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: key,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
        ),
      );
      for (const upload of out.Uploads ?? []) if (upload.Key === key && upload.UploadId) ids.push(upload.UploadId);
      if (!out.IsTruncated) return ids;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
    }
  }

  /** Reads a tail object into the part being gathered. */
  async readTail(tail: { key: string; size: number }, into: PartBuffer): Promise<void> {
    await s3Call("GetObject (tail)", async () => {
      const out = await this.get(tail.key);
      if (!out?.Body) throw new StorageUnavailableError(`staged tail ${tail.key} is missing`);
      let read = 0;
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        if (into.write(chunk) !== chunk.byteLength) throw new StorageUnavailableError(`staged tail ${tail.key} is larger than a part`);
        read += chunk.byteLength;
      }
      if (read !== tail.size) throw new StorageUnavailableError(`staged tail ${tail.key} holds ${read} bytes, not ${tail.size}`);
    });
  }

  async putTail(key: string, bytes: Buffer): Promise<void> {
    await this.put(key, bytes);
  }
}

function bareEtag(etag: string | undefined, what: string): string {
  if (!etag) throw new StorageUnavailableError(`S3 ${what} answered without an ETag`);
  return etag.replace(/^"(.*)"$/, "$1");
}
