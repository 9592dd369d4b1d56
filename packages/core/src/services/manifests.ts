import { RegistryError } from "../errors.ts";
import { digestAlgorithm, digestOf, parseDigest, tryParseDigest, type Digest, type DigestAlgorithm } from "../oci/digest.ts";
import { parseManifest, type Descriptor, type ParsedManifest } from "../oci/manifest-schema.ts";
import { EMPTY_BLOB, FOREIGN_LAYER_MEDIA_TYPES } from "../oci/media-types.ts";
import { isTag, parseTag, type RepositoryName, type Tag } from "../oci/names.ts";
import type { Clock, ManifestRecord, ManifestReference, MetadataStore, TenantId } from "../ports.ts";
import type { LimitsOf } from "./plans.ts";
import { quotaDenied } from "./quotas.ts";

export interface ManifestDeps {
  metadata: MetadataStore;
  clock: Clock;
  tenantOf: (name: RepositoryName) => TenantId;
  /** The tenant's limits, which the store enforces as it stores the manifest. */
  limitsOf: LimitsOf;
}

/** A <reference> path segment to push to: a digest if it has the digest shape, otherwise a tag (400 when neither). */
export function parseReference(value: string): ManifestReference {
  if (value.includes(":")) return { kind: "digest", digest: parseDigest(value, "reference") };
  return { kind: "tag", tag: parseTag(value) };
}

/**
 * A <reference> path segment to look up (GET, HEAD, DELETE). One that is neither a valid tag nor a
 * supported digest names no manifest, so it answers 404 MANIFEST_UNKNOWN like any absent one: the
 * OCI conformance suite probes missing manifests with ".INVALID_MANIFEST_NAME", and distribution's
 * router answers such references 404 too.
 */
export function lookupReference(repository: RepositoryName, value: string): ManifestReference {
  if (isTag(value)) return { kind: "tag", tag: value };
  const digest = tryParseDigest(value);
  if (digest) return { kind: "digest", digest };
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  throw new RegistryError("MANIFEST_UNKNOWN", `manifest "${shown}" is not in repository ${repository}: it is neither a valid tag nor a sha256/sha512 digest`, {
    reference: shown,
  });
}

function describe(reference: ManifestReference): string {
  return reference.kind === "tag" ? `tag ${reference.tag}` : reference.digest;
}

export interface PushedManifest {
  digest: Digest;
  subject?: Digest;
}

/** Manifests and tags: validation on push, lookup by tag or digest, deletion. */
export class ManifestService {
  constructor(private readonly deps: ManifestDeps) {}

  async get(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord> {
    const found = await this.deps.metadata.getManifest(repository, reference);
    if (!found) {
      throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${describe(reference)} is not in repository ${repository}`, {
        reference: reference.kind === "tag" ? reference.tag : reference.digest,
      });
    }
    return found;
  }

  /**
   * Stores a manifest byte for byte, after checking its schema and that everything it references is in
   * the repository. A push by tag points the tag at it; extra tags (PUT ?tag=) are set in the same transaction.
   * A manifest the tenant's limits refuse is not stored, nor any tag (403 DENIED); pushing a stored one again never is.
   */
  async put(repository: RepositoryName, reference: ManifestReference, bytes: Uint8Array, contentType: string | null, extraTags: Tag[] = []): Promise<PushedManifest> {
    const parsed = parseManifest(bytes, contentType);
    const algorithm: DigestAlgorithm = reference.kind === "digest" ? digestAlgorithm(reference.digest) : "sha256";
    const digest = digestOf(bytes, algorithm);
    if (reference.kind === "digest" && reference.digest !== digest) {
      throw new RegistryError("DIGEST_INVALID", `the manifest's bytes hash to ${digest}, not ${reference.digest} named in the URL`, {
        expected: reference.digest,
        actual: digest,
      });
    }
    await this.checkReferences(repository, parsed);

    const existing = await this.deps.metadata.getManifest(repository, { kind: "digest", digest });
    const record: ManifestRecord = {
      repository,
      digest,
      // Same bytes pushed again under another Content-Type keep their first media type, on every store.
      mediaType: existing?.mediaType ?? parsed.mediaType,
      bytes,
      createdAt: existing?.createdAt ?? this.deps.clock.now(),
      ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
      ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
      ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
    };
    const tags = [...new Set([...(reference.kind === "tag" ? [reference.tag] : []), ...extraTags])];
    const tenant = this.deps.tenantOf(repository);
    const outcome = await this.deps.metadata.putManifest(tenant, record, tags, await this.deps.limitsOf(tenant));
    if (!outcome.ok) throw quotaDenied(outcome, { tenant, repository, what: "manifest", size: bytes.byteLength });
    return { digest, ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
  }

  /** By digest: the manifest and its tags. By tag: the tag only (distribution-spec v1.1 end-9). */
  async delete(repository: RepositoryName, reference: ManifestReference): Promise<void> {
    const deleted =
      reference.kind === "digest"
        ? await this.deps.metadata.deleteManifest(repository, reference.digest)
        : await this.deps.metadata.deleteTag(repository, reference.tag);
    if (!deleted) {
      throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${describe(reference)} is not in repository ${repository}`, {
        reference: reference.kind === "tag" ? reference.tag : reference.digest,
      });
    }
  }

  private async checkReferences(repository: RepositoryName, parsed: ParsedManifest): Promise<void> {
    const blobs = unique(parsed.blobs.filter((d) => !(FOREIGN_LAYER_MEDIA_TYPES.has(d.mediaType) && d.urls?.length)));
    const children = unique(parsed.manifests);
    const [blobRecords, childRecords] = await Promise.all([
      Promise.all(blobs.map((d) => (d.digest === EMPTY_BLOB.digest ? { digest: d.digest, size: EMPTY_BLOB.size } : this.deps.metadata.findLinkedBlob(repository, d.digest)))),
      Promise.all(children.map((d) => this.deps.metadata.getManifest(repository, { kind: "digest", digest: d.digest }))),
    ]);
    blobs.forEach((d, i) => {
      const found = blobRecords[i];
      if (!found) {
        throw new RegistryError("MANIFEST_BLOB_UNKNOWN", `blob ${d.digest} (${d.mediaType}) is not in repository ${repository}; push it before the manifest`, {
          digest: d.digest,
        });
      }
      if (found.size !== d.size) {
        throw new RegistryError("MANIFEST_INVALID", `manifest invalid: descriptor of ${d.digest} says ${d.size} bytes but the blob has ${found.size}`, {
          digest: d.digest,
          descriptorSize: d.size,
          blobSize: found.size,
        });
      }
    });
    children.forEach((d, i) => {
      const found = childRecords[i];
      if (!found) {
        throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${d.digest} listed in the index is not in repository ${repository}; push it before the index`, {
          digest: d.digest,
        }, { status: 400 });
      }
      if (found.bytes.length !== d.size) {
        throw new RegistryError("MANIFEST_INVALID", `manifest invalid: descriptor of ${d.digest} says ${d.size} bytes but the manifest has ${found.bytes.length}`, {
          digest: d.digest,
        });
      }
    });
  }
}

function unique(descriptors: Descriptor[]): Descriptor[] {
  const seen = new Map<string, Descriptor>();
  for (const d of descriptors) if (!seen.has(d.digest)) seen.set(d.digest, d);
  return [...seen.values()];
}
