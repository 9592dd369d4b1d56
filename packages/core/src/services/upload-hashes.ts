import { createHash, type Hash } from "node:crypto";
import { RegistryError } from "../errors.ts";
import { ResumableSha256 } from "../oci/resumable-sha256.ts";
import type { BlobStore, UploadId, UploadSession } from "../ports.ts";

/** A running digest of an upload's bytes. */
export interface UploadHasher {
  update(bytes: Uint8Array): void;
  digestHex(): string;
  /** Present when the state can be saved with the session and resumed by another process. */
  exportState?(): string;
}

class NativeHasher implements UploadHasher {
  constructor(private readonly hash: Hash) {}
  update(bytes: Uint8Array): void {
    this.hash.update(bytes);
  }
  digestHex(): string {
    return this.hash.digest("hex");
  }
}

class ResumableHasher implements UploadHasher {
  constructor(private readonly hash: ResumableSha256) {}
  update(bytes: Uint8Array): void {
    this.hash.update(bytes);
  }
  digestHex(): string {
    return this.hash.digestHex();
  }
  exportState(): string {
    return this.hash.exportState();
  }
}

// The hash state of uploads in progress. Two ways to keep it between requests:
// - in this process's memory (native SHA-256, ~10x faster): the local server and the upload service,
//   where POST, PATCH and PUT reach one process;
// - saved with the session (`resumable`, pure-JS SHA-256): Lambda, where each chunk may reach
//   another instance.
// Either way a state that is missing (process restarted, interrupted append) is rebuilt by reading
// the staged bytes back once.
const MAX_ENTRIES = 10_000;

export class UploadHashes {
  private readonly entries = new Map<UploadId, { size: number; hasher: UploadHasher }>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly resumable: boolean,
  ) {}

  /** The SHA-256 of the session's staged bytes, removed from the cache (put it back after appending). */
  async take(session: UploadSession): Promise<UploadHasher> {
    const entry = this.entries.get(session.id);
    this.entries.delete(session.id);
    if (entry && entry.size === session.size) return entry.hasher;
    if (session.hashState) {
      const resumed = tryResume(session.hashState, session.size);
      if (resumed) return resumed;
    }
    return this.rebuild(session, "sha256");
  }

  put(id: UploadId, size: number, hasher: UploadHasher): void {
    if (this.entries.size >= MAX_ENTRIES) {
      // Evict the oldest entry; it can be resumed or rebuilt.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(id, { size, hasher });
  }

  drop(id: UploadId): void {
    this.entries.delete(id);
  }

  fresh(): UploadHasher {
    return this.resumable ? new ResumableHasher(new ResumableSha256()) : new NativeHasher(createHash("sha256"));
  }

  /** Hashes the staged bytes from the start: the fallback, and the only way to a sha512. */
  async rebuild(session: UploadSession, algorithm: "sha256" | "sha512"): Promise<UploadHasher> {
    const hasher = algorithm === "sha256" ? this.fresh() : new NativeHasher(createHash("sha512"));
    if (session.size === 0) return hasher;
    try {
      for await (const chunk of this.blobs.readUpload(session.id, session.staging, session.size)) hasher.update(chunk);
    } catch (cause) {
      // S3 cannot read the parts of an unfinished multipart upload back.
      throw new RegistryError(
        "BLOB_UPLOAD_INVALID",
        algorithm === "sha512"
          ? "this registry cannot verify a sha512 digest of a chunked upload; push the blob with a sha256 digest"
          : "the upload's hash state was lost and its bytes cannot be read back; start the upload again",
        null,
        { cause },
      );
    }
    return hasher;
  }
}

function tryResume(state: string, size: number): UploadHasher | undefined {
  try {
    const hash = ResumableSha256.fromState(state);
    return hash.length === size ? new ResumableHasher(hash) : undefined;
  } catch {
    return undefined;
  }
}
