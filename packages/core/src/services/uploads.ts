import { randomUUID } from "node:crypto";
import { RegistryError } from "../errors.ts";
import { digestAlgorithm, type Digest } from "../oci/digest.ts";
import type { RepositoryName } from "../oci/names.ts";
import type {
  BlobRecord, BlobStore, ByteRange, Clock, MetadataStore, QuotaExceeded, TenantId, TenantLimits, UploadId, UploadSession, UploadUsage,
} from "../ports.ts";
import { uploadRangeHeader } from "../http/ranges.ts";
import type { KeyedLock } from "./keyed-lock.ts";
import { UNLIMITED, type LimitsOf } from "./plans.ts";
import { quotaDenied, type RefusedPush } from "./quotas.ts";
import { UploadHashes } from "./upload-hashes.ts";
import { sweepIdle, type SweepOptions } from "./upload-sweep.ts";

export interface UploadDeps {
  blobs: BlobStore;
  metadata: MetadataStore;
  clock: Clock;
  tenantOf: (name: RepositoryName) => TenantId;
  /**
   * The tenant's limits, which the store enforces as it commits or mounts a blob, opens a session
   * (uploadSessions) and stages bytes (stored plus staged bytes within storedBytes).
   */
  limitsOf: LimitsOf;
  blobLock: KeyedLock;
  uploadTtlMs: number;
  /** Save the SHA-256 state with the session, for deployments where requests reach different processes. */
  resumableHashing: boolean;
}

/** A chunk of upload bytes as a request delivers it. */
export interface Chunk {
  source: AsyncIterable<Uint8Array>;
  /** Content-Range of a chunked PATCH, if sent. */
  range?: ByteRange;
  /** Content-Length, if sent: checked against the bytes that arrived. */
  declaredLength?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Thrown into the append's source when the body passes the room the tenant had: staging stops there. */
class PastRoom extends Error {
  constructor(readonly received: number) {
    super("the body passed the tenant's room for staged bytes");
  }
}

/** The tenant's room for more staged bytes as measured before a chunk; undefined when storedBytes is unlimited. */
interface Budget {
  limits: TenantLimits;
  usage: UploadUsage;
  room: number;
}

export function uploadLocation(repository: RepositoryName, id: UploadId): string {
  return `/v2/${repository}/blobs/uploads/${id}`;
}

/** Errors about a session carry its Location and Range, so a client can see where to resume. */
function sessionHeaders(session: UploadSession): Record<string, string> {
  return {
    location: uploadLocation(session.repository, session.id),
    range: uploadRangeHeader(session.size),
    "docker-upload-uuid": session.id,
  };
}

/** Blob upload sessions: start, append (streamed or chunked), finish with digest verification, cancel, expire. */
export class UploadService {
  private readonly hashes: UploadHashes;
  /** Sessions with a request writing to them in this process: one writer at a time, never expired under it. */
  private readonly busy = new Set<UploadId>();

  constructor(private readonly deps: UploadDeps) {
    this.hashes = new UploadHashes(deps.blobs, deps.resumableHashing);
  }

  /** A new session; 403 DENIED when the tenant has as many open as its plan allows (the store counts them atomically). */
  async start(repository: RepositoryName): Promise<UploadSession> {
    const id = randomUUID() as UploadId;
    const tenant = this.deps.tenantOf(repository);
    const limits = await this.deps.limitsOf(tenant);
    const staging = await this.deps.blobs.createUpload(id, tenant);
    const now = this.deps.clock.now();
    const session: UploadSession = { id, repository, tenant, size: 0, staging, createdAt: now, updatedAt: now };
    let created;
    try {
      created = await this.deps.metadata.createUpload(session, limits);
    } catch (e) {
      await this.deps.blobs.deleteUpload(id, staging).catch(() => {});
      throw e;
    }
    if (!created.ok) {
      await this.deps.blobs.deleteUpload(id, staging);
      throw quotaDenied(created, { tenant, repository, what: "blob", size: 0, uploadTtlMs: this.deps.uploadTtlMs });
    }
    return session;
  }

  /** The live session, or BLOB_UPLOAD_UNKNOWN: unknown id, another repository's, or expired. */
  async get(repository: RepositoryName, rawId: string): Promise<UploadSession> {
    const unknown = () =>
      new RegistryError("BLOB_UPLOAD_UNKNOWN", `upload ${rawId.slice(0, 60)} is not in progress in repository ${repository}; start a new one with POST /v2/${repository}/blobs/uploads/`, {
        upload: rawId.slice(0, 60),
      });
    if (!UUID.test(rawId)) throw unknown();
    const session = await this.deps.metadata.getUpload(rawId as UploadId);
    if (!session || session.repository !== repository || this.isExpired(session)) throw unknown();
    return session;
  }

  /** Appends a chunk at the session's end; returns the session with its new size. */
  async append(session: UploadSession, chunk: Chunk): Promise<UploadSession> {
    return this.exclusive(session, () => this.appendUnlocked(session, chunk));
  }

  /**
   * Appends a final chunk if any, verifies the digest of all staged bytes and commits the blob.
   * A digest mismatch, or a blob the tenant's limits refuse (403 DENIED), cancels the session:
   * nothing is left under any digest.
   */
  async finish(session: UploadSession, digest: Digest, chunk?: Chunk): Promise<BlobRecord> {
    return this.exclusive(session, async () => {
      let current = session;
      if (chunk) current = await this.appendUnlocked(current, chunk);
      const algorithm = digestAlgorithm(digest);
      const hasher = algorithm === "sha256" ? await this.hashes.take(current) : await this.hashes.rebuild(current, algorithm);
      const actual = `${algorithm}:${hasher.digestHex()}` as Digest;
      if (actual !== digest) {
        await this.discard(current);
        throw new RegistryError(
          "DIGEST_INVALID",
          `the ${current.size} bytes uploaded hash to ${actual}, not ${digest}; the upload was discarded, push the blob again`,
          { expected: digest, actual },
        );
      }
      // Committed, the session is gone (commit); refused, it goes now with its bytes.
      const committed = await this.commit(current, digest);
      if (!committed.ok) {
        await this.discard(current);
        throw quotaDenied(committed, { tenant: current.tenant, repository: current.repository, what: "blob", size: current.size });
      }
      return committed.blob;
    });
  }

  /** One-request upload (POST ?digest=): a session for the duration of the request, never left behind. */
  async putWhole(repository: RepositoryName, digest: Digest, chunk: Chunk): Promise<BlobRecord> {
    const session = await this.start(repository);
    try {
      return await this.finish(session, digest, chunk);
    } catch (e) {
      await this.discard(session).catch(() => {});
      throw e;
    }
  }

  /**
   * Cross-repository mount within the tenant; undefined when the blob cannot be mounted. A mount that
   * would create a repository past the tenant's limit is refused (403 DENIED) rather than turned into
   * an upload session that would be refused at its end.
   */
  async mount(repository: RepositoryName, digest: Digest, from: RepositoryName | undefined): Promise<BlobRecord | undefined> {
    const tenant = this.deps.tenantOf(repository);
    if (from !== undefined) {
      // Blobs never cross tenants, and the source repository must really hold the blob.
      if (this.deps.tenantOf(from) !== tenant) return undefined;
      if (!(await this.deps.metadata.findLinkedBlob(from, digest))) return undefined;
    }
    const limits = await this.deps.limitsOf(tenant);
    const linked = await this.deps.blobLock.run(`${tenant}/${digest}`, () => this.deps.metadata.linkBlob(tenant, repository, digest, limits));
    if (linked?.ok === false) throw quotaDenied(linked, { tenant, repository, what: "blob", size: 0 });
    return linked?.blob;
  }

  async cancel(session: UploadSession): Promise<void> {
    if (this.busy.has(session.id)) throw this.conflict(session);
    await this.discard(session);
  }

  /**
   * Removes every session idle past the TTL, with its staged bytes (S3: its multipart upload aborted),
   * page after page until none is left or `options.until` passes; returns how many.
   */
  async expireIdle(options: SweepOptions = {}): Promise<number> {
    const before = this.deps.clock.now() - this.deps.uploadTtlMs;
    return sweepIdle(
      (limit) => this.deps.metadata.listIdleUploads(before, limit),
      async (session) => {
        // A request is writing to it in this process: it is not idle, whatever its updatedAt says.
        if (this.busy.has(session.id)) return false;
        await this.discard(session);
        return true;
      },
      options,
    );
  }

  sessionHeaders(session: UploadSession): Record<string, string> {
    return sessionHeaders(session);
  }

  private isExpired(session: UploadSession): boolean {
    return !this.busy.has(session.id) && session.updatedAt < this.deps.clock.now() - this.deps.uploadTtlMs;
  }

  private conflict(session: UploadSession): RegistryError {
    return new RegistryError("RANGE_INVALID", "another request is writing to this upload; wait for it, then check the upload's status", null, {
      headers: sessionHeaders(session),
    });
  }

  private async exclusive<T>(session: UploadSession, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(session.id)) throw this.conflict(session);
    this.busy.add(session.id);
    try {
      return await work();
    } finally {
      this.busy.delete(session.id);
    }
  }

  private async appendUnlocked(session: UploadSession, chunk: Chunk): Promise<UploadSession> {
    // spec end-5: a chunk must start where the upload ends, else 416 with the current Range.
    if (chunk.range && chunk.range.start !== session.size) {
      throw new RegistryError(
        "RANGE_INVALID",
        `chunk starts at byte ${chunk.range.start} but the upload holds ${session.size} bytes; send the chunk starting at ${session.size}`,
        { expectedStart: session.size, start: chunk.range.start },
        { headers: sessionHeaders(session) },
      );
    }
    const rangeLength = chunk.range ? chunk.range.end - chunk.range.start + 1 : undefined;
    if (rangeLength !== undefined && chunk.declaredLength !== undefined && rangeLength !== chunk.declaredLength) {
      throw new RegistryError(
        "SIZE_INVALID",
        `Content-Range covers ${rangeLength} bytes but Content-Length is ${chunk.declaredLength}`,
        { contentRangeLength: rangeLength, contentLength: chunk.declaredLength },
        { headers: sessionHeaders(session) },
      );
    }

    const expected = chunk.declaredLength ?? rangeLength;
    // Staged bytes count against the plan: a body announced larger than the room is refused before a
    // byte is read; one of unknown length is stopped as it passes the room (measured now; the store's
    // conditional update below is the exact guard against other uploads of the tenant meanwhile).
    const budget = await this.budget(session.tenant);
    if (budget && expected !== undefined && expected > budget.room) {
      await this.discard(session);
      throw this.stagingDenied(session, budget, { size: expected });
    }
    const room = budget?.room ?? Infinity;

    const hasher = await this.hashes.take(session);
    let received = 0;
    let hashedBytes = 0;
    async function* hashed(): AsyncGenerator<Uint8Array> {
      for await (const bytes of chunk.source) {
        received += bytes.length;
        if (expected !== undefined && received > expected) {
          throw new RegistryError("SIZE_INVALID", `the body is longer than the ${expected} bytes its headers announce`);
        }
        if (received > room) throw new PastRoom(received);
        hasher.update(bytes);
        hashedBytes += bytes.length;
        yield bytes;
      }
    }
    let result;
    try {
      result = await this.deps.blobs.appendUpload(session.id, session.staging, session.size, hashed());
    } catch (e) {
      // The store failed (not the client): its durable size is unknown until read back, so force a rebuild.
      this.hashes.drop(session.id);
      throw e;
    }
    if (!result.ok && result.cause instanceof PastRoom) {
      // Nothing past the room is kept: the bytes staged so far go with the session.
      await this.discard({ ...session, staging: result.staging });
      throw this.stagingDenied(session, budget!, { size: result.cause.received, atLeast: true });
    }
    // The hash covers the staged bytes only if every byte hashed was staged; otherwise the next
    // request rebuilds it from the staged bytes.
    // Stores keep every byte they received even when the client went away, so the hash usually
    // survives an interrupted PATCH too.
    const hashComplete = result.size === session.size + hashedBytes;
    const { hashState: _stale, ...rest } = session;
    const hashState = hashComplete ? hasher.exportState?.() : undefined;
    const updated: UploadSession = {
      ...rest,
      size: result.size,
      staging: result.staging,
      updatedAt: this.deps.clock.now(),
      ...(hashState !== undefined ? { hashState } : {}),
    };
    const saved = await this.deps.metadata.updateUpload(updated, session.size, budget?.limits);
    if (saved === false) throw this.conflict(session);
    if (saved !== true) {
      // Another upload of the tenant took the room meanwhile: the store refused, so these bytes go.
      await this.discard(updated);
      throw quotaDenied(saved, this.refusedChunk(session, { size: result.size - session.size }));
    }
    if (hashComplete) this.hashes.put(session.id, result.size, hasher);

    if (!result.ok) {
      if (result.cause instanceof RegistryError) {
        throw new RegistryError(result.cause.code, result.cause.message, result.cause.detail, { headers: sessionHeaders(updated) });
      }
      throw new RegistryError(
        "BLOB_UPLOAD_INVALID",
        `the request body ended early; ${updated.size} bytes are stored, resume from there (GET the upload for its Range)`,
        { size: updated.size },
        { headers: sessionHeaders(updated) },
      );
    }
    if (expected !== undefined && received !== expected) {
      throw new RegistryError(
        "SIZE_INVALID",
        `received ${received} bytes but the headers announce ${expected}; ${updated.size} bytes are stored, resume from there`,
        { received, expected, size: updated.size },
        { headers: sessionHeaders(updated) },
      );
    }
    return updated;
  }

  /** The room measured before a chunk, when the tenant's stored bytes are limited. */
  private async budget(tenant: TenantId): Promise<Budget | undefined> {
    const limits = await this.deps.limitsOf(tenant);
    if (!limits || limits.storedBytes >= UNLIMITED) return undefined;
    const usage = await this.deps.metadata.uploadUsage(tenant);
    return { limits, usage, room: Math.max(0, limits.storedBytes - usage.storedBytes - usage.stagedBytes) };
  }

  private stagingDenied(session: UploadSession, budget: Budget, chunk: { size: number; atLeast?: boolean }): RegistryError {
    const { usage, limits } = budget;
    const refusal: QuotaExceeded = {
      ok: false, limit: "storedBytes", max: limits.storedBytes, usage: usage.storedBytes, ...(usage.stagedBytes > 0 ? { stagedBytes: usage.stagedBytes } : {}),
    };
    return quotaDenied(refusal, this.refusedChunk(session, chunk));
  }

  private refusedChunk(session: UploadSession, chunk: { size: number; atLeast?: boolean }): RefusedPush {
    return { tenant: session.tenant, repository: session.repository, what: "chunk", ...chunk };
  }

  /**
   * Makes the verified bytes the tenant's blob, linked to the session's repository, and ends the
   * session, unless the tenant's limits refuse it (then the session stays, for the caller to discard).
   */
  private async commit(session: UploadSession, digest: Digest): Promise<{ ok: true; blob: BlobRecord } | QuotaExceeded> {
    const { tenant, repository } = session;
    const limits = await this.deps.limitsOf(tenant);
    return this.deps.blobLock.run(`${tenant}/${digest}`, async () => {
      const existing = await this.deps.metadata.findBlob(tenant, digest);
      if (existing) {
        // Deduplicated within the tenant: link the blob we have, drop the staged copy, then the session
        // (in that order: a failure in between leaves the session, so the sweep still finds the bytes).
        const outcome = await this.deps.metadata.commitBlob(tenant, repository, existing, limits);
        if (!outcome.ok) return outcome;
        await this.deps.blobs.deleteUpload(session.id, session.staging);
        await this.deps.metadata.deleteUpload(session.id);
        return { ok: true, blob: existing };
      }
      const { location } = await this.deps.blobs.commitUpload(session.id, session.staging, tenant, digest, session.size);
      const blob: BlobRecord = { digest, size: session.size, ...(location !== undefined ? { location } : {}) };
      // The session goes in the same transaction: its staged bytes become the blob's stored bytes, never counted twice.
      const outcome = await this.deps.metadata.commitBlob(tenant, repository, blob, limits, session.id);
      if (!outcome.ok) {
        // Refused: the bytes just placed belong to no record, so they go again, still under the lock
        // (no commit or delete of this blob runs in this process meanwhile). If another process
        // committed the same blob in the meantime, its record now exists and the bytes are its.
        // Between that look and the delete the same window remains as for any orphan (blobs.ts).
        if (!(await this.deps.metadata.findBlob(tenant, digest))) await this.deps.blobs.delete(tenant, blob);
        return outcome;
      }
      return { ok: true, blob };
    });
  }

  private async discard(session: UploadSession): Promise<void> {
    this.hashes.drop(session.id);
    await this.deps.blobs.deleteUpload(session.id, session.staging);
    await this.deps.metadata.deleteUpload(session.id);
  }
}
