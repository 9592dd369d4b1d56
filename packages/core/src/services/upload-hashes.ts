import type { Hash } from "node:crypto";
import { newHasher } from "../oci/digest.ts";
import type { BlobStore, UploadId, UploadSession } from "../ports.ts";

// The SHA-256 state of uploads in progress in this process. Node's hash state cannot be exported,
// so a state lost (process restarted, request landed on another process, append interrupted) is
// rebuilt by reading the staged bytes back once. The common path (POST, PATCH, PUT on one server)
// never reads a byte twice.
const MAX_ENTRIES = 10_000;

export class UploadHashes {
  private readonly entries = new Map<UploadId, { size: number; hash: Hash }>();

  constructor(private readonly blobs: BlobStore) {}

  /** The hash of the session's staged bytes, removed from the cache (put it back after appending). */
  async take(session: UploadSession): Promise<Hash> {
    const entry = this.entries.get(session.id);
    this.entries.delete(session.id);
    if (entry && entry.size === session.size) return entry.hash;
    return this.rebuild(session, "sha256");
  }

  put(id: UploadId, size: number, hash: Hash): void {
    if (this.entries.size >= MAX_ENTRIES) {
      // Evict the oldest entry; it can be rebuilt from the staged bytes.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(id, { size, hash });
  }

  drop(id: UploadId): void {
    this.entries.delete(id);
  }

  async rebuild(session: UploadSession, algorithm: "sha256" | "sha512"): Promise<Hash> {
    const hash = newHasher(algorithm);
    if (session.size === 0) return hash;
    for await (const chunk of this.blobs.readUpload(session.id, session.staging, session.size)) hash.update(chunk);
    return hash;
  }
}
