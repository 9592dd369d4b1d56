import { randomUUID } from "node:crypto";
import { digestOf } from "@stratus/core";
import type { BlobRecord, Digest, ManifestRecord, RepositoryName, Tag, TenantId, TenantLimits, UploadId, UploadSession } from "@stratus/core";

// The records the MetadataStore contract suites build (metadata-store.contract.ts,
// upload-usage.contract.ts): plain values, the same on every adapter.

export const acme = "acme" as TenantId;
export const globex = "globex" as TenantId;
export const repo = (name: string) => name as RepositoryName;
export const tag = (name: string) => name as Tag;
export const digest = (seed: string): Digest => digestOf(new TextEncoder().encode(seed));
export const blob = (seed: string, size = seed.length): BlobRecord => ({ digest: digest(seed), size });

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Limits with only the given ones set: a test of one limit never trips another. */
export const limited = (set: Partial<TenantLimits>): TenantLimits => ({
  repositories: UNLIMITED, storedBytes: UNLIMITED, manifestsPerRepository: UNLIMITED, uploadSessions: UNLIMITED, ...set,
});

export function manifest(repository: RepositoryName, body: string, extra: Partial<ManifestRecord> = {}): ManifestRecord {
  const bytes = new TextEncoder().encode(body);
  return { repository, digest: digestOf(bytes), mediaType: OCI_MANIFEST, bytes, createdAt: 1_000, ...extra };
}

export function session(overrides: Partial<UploadSession> = {}): UploadSession {
  return {
    id: randomUUID() as UploadId,
    repository: repo("acme/web"),
    tenant: acme,
    size: 0,
    staging: {},
    createdAt: 1_000,
    updatedAt: 1_000,
    ...overrides,
  };
}
