import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { StorageUnavailableError } from "@stratus/core";
import type { AppendResult, BlobContent, BlobRecord, BlobStore, ByteRange, Digest, StagingState, TenantId, UploadId } from "@stratus/core";
import { s3Call, unavailable } from "./s3-client.ts";
import { blobKey, checkBlobLocation, checkTenant, checkUploadId, digestKey, tailKey, uploadPrefix } from "./s3-keys.ts";
import { S3Objects } from "./s3-objects.ts";
import { DEFAULT_PART_SIZE, appendStaged, checkPartSize, initialState, parseStagingState, stagedSize, toStagingState } from "./s3-staging.ts";
import type { S3StagingState } from "./s3-staging.ts";

// Blobs in S3 (docs/s3-layout.md). Uploads stage through multipart parts and a tail (s3-staging.ts);
// a commit completes the multipart upload (or keeps the lone tail, or writes an empty object) where it
// already is, never copying a blob to rename it. Core records the key it returns (BlobRecord.location):
// that record, written after the digest was verified, is what makes a blob visible. Pulls get a
// presigned URL, signed locally, so no blob byte passes through the registry.

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Size of upload parts (the first 1,000; then it doubles per 1,000): 5 MiB to 5 GiB, default 8 MiB. Memory use is about one part per append in progress. */
  partSize?: number;
  /** open() answers with a presigned GET URL (default); false streams the bytes from S3 instead. */
  redirect?: boolean;
  /** Lifetime of presigned URLs, seconds (default 900). */
  presignExpiresInSeconds?: number;
}

export class S3BlobStore implements BlobStore {
  private readonly objects: S3Objects;
  private readonly partSize: number;
  private readonly redirect: boolean;
  private readonly expiresIn: number;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.objects = new S3Objects(options.client, options.bucket);
    this.partSize = checkPartSize(options.partSize ?? DEFAULT_PART_SIZE);
    this.redirect = options.redirect ?? true;
    this.expiresIn = options.presignExpiresInSeconds ?? 900;
    // SigV4 presigned URLs live at most 7 days.
    if (!Number.isInteger(this.expiresIn) || this.expiresIn < 1 || this.expiresIn > 604_800) {
      throw new Error(`presigned URL expiry ${this.expiresIn} s is outside 1 s to 7 days`);
    }
  }

  async createUpload(id: UploadId, tenant: TenantId): Promise<StagingState> {
    checkUploadId(id);
    // Nothing in S3 yet: the multipart upload starts with the first full part, a tail with the first bytes.
    return toStagingState(initialState(tenant, this.partSize));
  }

  async appendUpload(id: UploadId, staging: StagingState, offset: number, source: AsyncIterable<Uint8Array>): Promise<AppendResult> {
    const state = parseStagingState(id, staging);
    return appendStaged(this.objects, id, state, offset, source, (end) => tailKey(state.tenant, id, end));
  }

  async *readUpload(id: UploadId, staging: StagingState, size: number): AsyncIterable<Uint8Array> {
    const state = parseStagingState(id, staging);
    if (size > stagedSize(state)) throw new Error(`upload ${id}: ${size} bytes asked, ${stagedSize(state)} staged`);
    if (size === 0) return;
    if (state.multipart) {
      // S3 serves no part of an unfinished multipart upload. With resumable hashing (the AWS setup) core
      // keeps the SHA-256 state in the session and never needs this; a sha512 digest on such an upload does.
      throw new Error(
        `upload ${id}: S3 cannot read back the ${state.multipart.etags.length} part(s) of an unfinished multipart upload; ` +
          `its hash must be kept with the session (resumable hashing)`,
      );
    }
    const tail = state.tail!;
    const out = await this.objects.get(tail.key, { start: 0, end: size - 1 });
    if (!out?.Body) throw new StorageUnavailableError(`staged tail ${tail.key} is missing`);
    let read = 0;
    try {
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        read += chunk.byteLength;
        yield chunk;
      }
    } catch (error) {
      throw unavailable("GetObject (staged)", error);
    }
    if (read !== size) throw new StorageUnavailableError(`staged tail ${tail.key} gave ${read} bytes, not ${size}`);
  }

  async commitUpload(id: UploadId, staging: StagingState, tenant: TenantId, digest: Digest, size: number): Promise<{ location?: string }> {
    const state = parseStagingState(id, staging);
    if (state.tenant !== checkTenant(tenant)) throw new Error(`upload ${id} belongs to tenant ${state.tenant}, not ${tenant}`);
    if (size !== stagedSize(state)) throw new Error(`upload ${id}: committing ${size} bytes, ${stagedSize(state)} staged`);
    const indexKey = digestKey(tenant, digest);
    const own = ownLocation(id, state);

    // The tenant may hold these bytes already (another upload of them): keep that blob, drop ours.
    const indexed = await this.readIndex(indexKey);
    if (indexed && indexed.location !== own && (await this.objects.head(indexed.location))) {
      // Ours may exist already: an earlier attempt of this commit completed it, then failed to index it.
      await Promise.all([this.objects.delete(own), this.discard(id, state)]).catch(() => undefined);
      return { location: indexed.location };
    }

    await this.materialize(id, state, size);
    const winner = indexed?.location === own ? own : await this.index(indexKey, own, indexed?.etag);
    if (winner !== own) {
      // Another upload of the same bytes committed meanwhile and was indexed first.
      await this.objects.delete(own);
      await this.discard(id, state).catch(() => undefined);
      return { location: winner };
    }
    // Leftovers: replaced tails, the tail that became the last part, uploads of failed appends.
    await this.discard(id, state, own).catch(() => undefined);
    return { location: own };
  }

  async deleteUpload(id: UploadId, staging: StagingState): Promise<void> {
    // Called for abandoned and cancelled uploads, and by core for a committed one whose session
    // outlived its commit: a tail committed as a blob is spared (discard checks its tag).
    await this.discard(id, parseStagingState(id, staging), undefined, true);
  }

  async open(tenant: TenantId, blob: BlobRecord, range?: ByteRange): Promise<BlobContent | undefined> {
    const key = await this.locate(tenant, blob);
    if (key === undefined) return undefined;
    if (this.redirect) {
      // Signed locally (no request to S3); the client sends its Range header to S3 itself.
      const command = new GetObjectCommand({ Bucket: this.options.bucket, Key: key });
      return { kind: "redirect", url: await getSignedUrl(this.options.client, command, { expiresIn: this.expiresIn }) };
    }
    const out = await this.objects.get(key, range);
    if (!out?.Body) return undefined;
    const body = out.Body.transformToWebStream() as ReadableStream<Uint8Array>;
    if (!range) return { kind: "stream", body, size: out.ContentLength ?? blob.size };
    // Content-Range: bytes <start>-<end>/<size>; S3 caps the end at the object's last byte.
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(out.ContentRange ?? "");
    if (!match) {
      await body.cancel();
      throw new StorageUnavailableError(`S3 GetObject of ${key} answered a range request without Content-Range`);
    }
    return { kind: "stream", body, size: Number(match[3]), range: { start: Number(match[1]), end: Number(match[2]) } };
  }

  /** A presigned HeadObject URL: S3's answer carries the blob's true Content-Length (core config blobHeadRedirect). */
  async headUrl(tenant: TenantId, blob: BlobRecord): Promise<string | undefined> {
    const key = await this.locate(tenant, blob);
    if (key === undefined) return undefined;
    return getSignedUrl(this.options.client, new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }), { expiresIn: this.expiresIn });
  }

  async delete(tenant: TenantId, blob: BlobRecord): Promise<void> {
    const key = await this.locate(tenant, blob);
    if (key === undefined) return;
    await this.objects.delete(key);
    const indexKey = digestKey(tenant, blob.digest);
    const indexed = await this.readIndex(indexKey);
    if (indexed?.location === key) await this.objects.delete(indexKey);
  }

  /** The blob's key: its recorded location, else what the tenant's digest index says; undefined if none. */
  private async locate(tenant: TenantId, blob: BlobRecord): Promise<string | undefined> {
    if (blob.location !== undefined) return checkBlobLocation(tenant, blob.location);
    const indexed = await this.readIndex(digestKey(tenant, blob.digest));
    return indexed && checkBlobLocation(tenant, indexed.location);
  }

  /** Makes the staged bytes one object and returns nothing but success; safe to repeat after a lost answer. */
  private async materialize(id: UploadId, state: S3StagingState, size: number): Promise<void> {
    const key = blobKey(state.tenant, id);
    if (state.multipart) {
      const { uploadId, etags } = state.multipart;
      const parts = [...etags];
      try {
        if (state.tail) parts.push(await this.objects.copyPart(key, uploadId, parts.length + 1, state.tail.key));
      } catch (error) {
        // A repeated commit: the upload is complete already, so no part can be added.
        if ((await this.objects.head(key))?.size === size) return;
        throw error;
      }
      if (await this.objects.completeMultipart(key, uploadId, parts)) return;
      if ((await this.objects.head(key))?.size === size) return;
      throw new StorageUnavailableError(`upload ${id}: S3 no longer knows multipart upload ${uploadId} and ${key} is not complete`);
    }
    if (state.tail) {
      // The whole blob is the tail: it becomes the blob where it lies (a tag tells discard to spare it).
      await this.objects.markCommitted(state.tail.key);
      return;
    }
    await this.objects.put(key, Buffer.alloc(0));
  }

  /** Records digest → key unless another upload's key got there first; returns the key that stands. */
  private async index(indexKey: string, own: string, staleEtag: string | undefined): Promise<string> {
    let etag = staleEtag;
    // radosgw (Ceph 16) compares If-Match without the quotes HTTP puts around an ETag; S3 with them.
    let quoted = true;
    for (let attempt = 0; attempt < 5; attempt++) {
      // Create the entry, or replace the one read before (whose blob is gone): conditionally either way,
      // so of two uploads committing the same bytes at once, one blob stands and the other is dropped.
      const written = await this.objects.put(indexKey, Buffer.from(own), {
        ...(etag !== undefined ? { ifMatch: quoted ? etag : etag.replace(/"/g, "") } : { ifNoneMatch: "*" as const }),
      });
      if (written) return own;
      const current = await this.readIndex(indexKey);
      if (current === undefined) {
        etag = undefined;
        continue;
      }
      if (current.location === own) return own;
      if (await this.objects.head(current.location)) return current.location;
      if (current.etag === etag) quoted = !quoted;
      etag = current.etag;
    }
    throw new StorageUnavailableError(`S3 digest index ${indexKey}: too many concurrent writers`);
  }

  /** The tenant's index entry for a digest: the blob's key is the body (so each entry has its own ETag). */
  private async readIndex(indexKey: string): Promise<{ location: string; etag: string } | undefined> {
    const out = await this.objects.get(indexKey);
    if (!out?.Body) return undefined;
    const location = await s3Call("GetObject (digest index)", () => out.Body!.transformToString());
    return location ? { location, etag: out.ETag ?? "" } : undefined;
  }

  /**
   * Aborts the upload's multipart uploads (a failed append may have started one the state never
   * recorded) and deletes its staging objects but `keep`. With `spareCommitted`, a tail tagged as a
   * committed blob stays too.
   */
  private async discard(id: UploadId, state: S3StagingState, keep?: string, spareCommitted = false): Promise<void> {
    const key = blobKey(state.tenant, id);
    const uploads = new Set(await this.objects.listMultipart(key));
    if (state.multipart) uploads.add(state.multipart.uploadId);
    for (const uploadId of uploads) await this.objects.abortMultipart(key, uploadId);
    const staged = (await this.objects.listKeys(uploadPrefix(state.tenant, id))).filter((k) => k !== keep);
    const doomed: string[] = [];
    for (const k of staged) if (!(spareCommitted && (await this.objects.isCommitted(k)))) doomed.push(k);
    await Promise.all(doomed.map((k) => this.objects.delete(k)));
  }
}

/** Where the staged bytes will lie once committed. */
function ownLocation(id: UploadId, state: S3StagingState): string {
  return !state.multipart && state.tail ? state.tail.key : blobKey(state.tenant, id);
}
