import { randomBytes } from "node:crypto";
import { digestAlgorithm, digestHex, tryParseDigest } from "@stratus/core";
import type { Digest, TenantId, UploadId } from "@stratus/core";

// The object key layout (docs/s3-layout.md). Every key starts with the tenant, so one tenant's objects
// never share a key, or a prefix, with another's:
//   <tenant>/blobs/<upload-id>                     a committed blob assembled by multipart upload (or empty)
//   <tenant>/uploads/<upload-id>/tail-<end>-<rnd>  staged bytes after the last full part; a blob smaller
//                                                   than one part is committed where its tail lies
//   <tenant>/digests/<algorithm>/<hex>             the tenant's digest index: the body is the blob's key
//                                                   (deduplication within the tenant)
// Blob keys carry the upload id, not the digest: the multipart key is fixed before any byte is hashed,
// and S3 cannot rename without copying. The registry's metadata keeps digest → key (BlobRecord.location).

// Tenants are namespace components or "default" (DESIGN.md "Tenancy"); ids come from core as UUIDs.
// Both become key segments, so they are checked before any key is built.
const TENANT = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const TAIL = `tail-\\d+-[0-9a-f]{16}`;

export function checkTenant(tenant: string): TenantId {
  if (tenant !== "default" && !TENANT.test(tenant)) throw new Error(`tenant ${JSON.stringify(tenant)} is not a valid namespace`);
  return tenant as TenantId;
}

export function checkUploadId(id: string): UploadId {
  if (!UPLOAD_ID.test(id)) throw new Error(`upload id ${JSON.stringify(id)} is not a lowercase UUID`);
  return id as UploadId;
}

/** Where an upload's multipart blob lands (and an empty blob is written). */
export function blobKey(tenant: TenantId, id: UploadId): string {
  return `${checkTenant(tenant)}/blobs/${checkUploadId(id)}`;
}

/** The prefix of every staging object of an upload. */
export function uploadPrefix(tenant: TenantId, id: UploadId): string {
  return `${checkTenant(tenant)}/uploads/${checkUploadId(id)}/`;
}

/**
 * A fresh key for a tail ending at byte `end`. The random part makes every tail a new object: an append
 * never overwrites one a saved staging state may reference, even when two requests race on an upload.
 */
export function tailKey(tenant: TenantId, id: UploadId, end: number): string {
  return `${uploadPrefix(tenant, id)}tail-${end}-${randomBytes(8).toString("hex")}`;
}

export function digestKey(tenant: TenantId, digest: Digest): string {
  if (tryParseDigest(digest) === undefined) throw new Error(`not a digest: ${JSON.stringify(digest)}`);
  return `${checkTenant(tenant)}/digests/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

/**
 * Whether `key` is a blob key of this tenant's: `undefined` for another tenant's key (never served or
 * deleted on this tenant's behalf), an error for a key this store cannot have written.
 */
export function checkBlobLocation(tenant: TenantId, key: string): string | undefined {
  checkTenant(tenant);
  if (!key.startsWith(`${tenant}/`)) return undefined;
  const rest = key.slice(tenant.length + 1);
  if (!new RegExp(`^(?:blobs/${UUID}|uploads/${UUID}/${TAIL})$`).test(rest)) {
    throw new Error(`blob location ${JSON.stringify(key)} is not a key of this store`);
  }
  return key;
}

/** Whether `key` is a tail key of the upload whose staging prefix is `prefix`. */
export function isTailKey(prefix: string, key: string): boolean {
  return key.startsWith(prefix) && new RegExp(`^${TAIL}$`).test(key.slice(prefix.length));
}
