import { randomUUID } from "node:crypto";
import {
  RegistryError, StorageUnavailableError, digestAlgorithm, digestOf,
  type Digest, type ManifestRecord, type ManifestReference, type ManifestSummary, type PageRequest, type QuotaOutcome, type ReferrerRecord,
  type RepositoryName, type Tag, type TenantId, type TenantLimits,
} from "@stratus/core";
import type { DynamoContext } from "./dynamo-context.ts";
import { estimateSize, type Item, type TransactItem } from "./dynamo-io.ts";
import { MANIFEST_PREFIX, manifestKey, referrerKey, referrerPrefix, repositoryKey, repositoryPk, tagKey, usageKey } from "./dynamo-keys.ts";
import { createRepositoryItems, manifestCountUpdate, quotaRefusal, usageRead, usageUpdate } from "./dynamo-repositories.ts";

// Manifests, tags and referrers of a repository.
//
// - The manifest item ("M#<digest>") holds the manifest's body (below), `tags`, the set of tags ever
//   pointed at it (a superset: a tag that moved on stays listed; deleteManifest checks each), and
//   `ver`, a random version replaced by every write, which deleteManifest and the continuation
//   transactions of a push too large for one transaction are conditional on.
// - A tag item ("T#<tag>") holds a copy of its manifest's body, so a pull by tag is one GetItem.
//   A digest's body never changes once stored (same bytes; the first push's media type and createdAt
//   stay), so copies never go stale.
// - A referrer item ("S#<subject>#<digest>") holds what the referrers API lists.
// - The body: bytes inline when bytes and annotations fit in `inlineManifestBytes`, otherwise in the
//   overflow store under a key made for this push (bytesKey); annotations beyond 64 KiB likewise.

const NOT_EXISTS = "attribute_not_exists(PK)";
const ANNOTATIONS_INLINE_MAX = 64 * 1024;

interface Body {
  digest: string;
  mediaType: string;
  size: number;
  createdAt: number;
  subject?: string;
  artifactType?: string;
  /** JSON of the annotations, or the overflow key of that JSON. */
  annotations?: string;
  annotationsKey?: string;
  bytes?: Uint8Array;
  bytesKey?: string;
}
const BODY_ATTRIBUTES = ["digest", "mediaType", "size", "createdAt", "subject", "artifactType", "annotations", "annotationsKey", "bytes", "bytesKey"] as const;

interface ManifestItem extends Item, Body {
  /** The owner of the repository, for the usage figures when the manifest goes. */
  tenant: string;
  tags?: Set<string>;
  ver: string;
}

export async function putManifest(ctx: DynamoContext, tenant: TenantId, manifest: ManifestRecord, tags: Tag[], limits?: TenantLimits): Promise<QuotaOutcome> {
  const what = "put manifest";
  const repository = manifest.repository;
  const key = manifestKey(repository, manifest.digest);
  const tagList = [...new Set(tags)];
  const written: string[] = [];
  let fresh: Body | undefined;
  try {
    return await ctx.io.retrying(what, async (): Promise<QuotaOutcome> => {
      const keys = [key, repositoryKey(repository)];
      const [existing, repo, usage] = (await ctx.io.getMany(what, limits ? [...keys, usageKey(tenant)] : keys)) as [ManifestItem | undefined, Item | undefined, Item | undefined];
      if (existing && tagList.length === 0) return { ok: true };
      // A re-push of a stored digest adds nothing, so is never refused. Checked before the overflow write: a refusal writes nothing.
      const delta = {
        repositories: repo ? 0 : 1,
        storedBytes: existing ? 0 : manifest.bytes.byteLength,
        ...(existing ? {} : { manifest: { count: Number(repo?.manifests ?? 0) } }),
      };
      const read = usageRead(usage);
      const refused = limits && quotaRefusal(limits, read, delta);
      if (refused) return refused;
      const body = existing ? bodyOf(existing) : (fresh ??= await newBody(ctx, manifest, written));
      const ver = randomUUID();
      const first: TransactItem[] = [];
      if (existing) {
        first.push({
          Update: {
            TableName: ctx.table, Key: key, UpdateExpression: "SET #ver = :ver ADD #tags :tags", ConditionExpression: "#ver = :old",
            ExpressionAttributeNames: { "#ver": "ver", "#tags": "tags" },
            ExpressionAttributeValues: { ":ver": ver, ":old": existing.ver, ":tags": new Set(tagList) },
          },
        });
      } else {
        const tagSet = tagList.length > 0 ? { tags: new Set(tagList) } : {};
        first.push({ Put: { TableName: ctx.table, Item: { ...key, ...body, tenant, ...tagSet, ver }, ConditionExpression: NOT_EXISTS } });
        // A new repository's marker is created counting it; an existing one's count goes up under the limit.
        if (repo) first.push(manifestCountUpdate(ctx, repository, 1, limits?.manifestsPerRepository));
        if (manifest.subject) first.push({ Put: { TableName: ctx.table, Item: { ...referrerKey(repository, manifest.subject, manifest.digest), ...referrerBody(body) } } });
      }
      if (!repo) first.push(...createRepositoryItems(ctx, tenant, repository, existing ? 0 : 1));
      const usageChange = usageUpdate(ctx, tenant, delta, limits, read);
      if (usageChange) first.push(usageChange);
      const tagPuts: TransactItem[] = tagList.map((tag) => ({ Put: { TableName: ctx.table, Item: { ...tagKey(repository, tag), ...body } } }));
      const [head, ...continuations] = ctx.io.pack(first, tagPuts, versionCheck(ctx, key, ver));
      await ctx.io.transact(what, head!);
      // The item now owns the new body's overflow objects: a later attempt must not reuse them (a
      // racing delete of this manifest deletes them), it writes its own.
      if (!existing) fresh = undefined;
      // Tags that did not fit: each batch only while the manifest is still the version just written.
      for (const batch of continuations) await ctx.io.transact(what, batch);
      return { ok: true };
    });
  } finally {
    if (written.length > 0) await dropUnused(ctx, key, written);
  }
}

export async function getManifest(ctx: DynamoContext, repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | undefined> {
  const key = reference.kind === "tag" ? tagKey(repository, reference.tag) : manifestKey(repository, reference.digest);
  const item = await ctx.io.get("get manifest", key);
  return item ? toRecord(ctx, repository, item as Item & Body) : undefined;
}

/** Deletes the manifest, every tag pointing at it and its referrer entry; then its overflow objects. */
export async function deleteManifest(ctx: DynamoContext, repository: RepositoryName, digest: Digest): Promise<boolean> {
  const what = "delete manifest";
  const key = manifestKey(repository, digest);
  const removed = await ctx.io.retrying(what, async () => {
    const item = (await ctx.io.get(what, key)) as ManifestItem | undefined;
    if (!item) return undefined;
    const names = [...(item.tags ?? [])];
    const tagItems = await ctx.io.getMany(what, names.map((tag) => tagKey(repository, tag)));
    const tagDeletes: TransactItem[] = names
      .filter((_, i) => tagItems[i]?.digest === digest)
      .map((tag) => ({
        Delete: {
          TableName: ctx.table, Key: tagKey(repository, tag), ConditionExpression: "#digest = :digest",
          ExpressionAttributeNames: { "#digest": "digest" }, ExpressionAttributeValues: { ":digest": digest },
        },
      }));
    const final: TransactItem[] = [
      {
        Delete: {
          TableName: ctx.table, Key: key, ConditionExpression: "#ver = :ver",
          ExpressionAttributeNames: { "#ver": "ver" }, ExpressionAttributeValues: { ":ver": item.ver },
        },
      },
      manifestCountUpdate(ctx, repository, -1),
    ];
    const usage = usageUpdate(ctx, item.tenant as TenantId, { repositories: 0, storedBytes: -Number(item.size) });
    if (usage) final.push(usage);
    if (item.subject) final.push({ Delete: { TableName: ctx.table, Key: referrerKey(repository, item.subject as Digest, digest) } });
    // Tags go first (in guarded batches when there are very many), the manifest last: a tag never outlives it.
    const tagSize = estimateSize({ ...tagKey(repository, "x".repeat(128)), ...bodyOf(item) });
    const batches = ctx.io.pack(final, tagDeletes, versionCheck(ctx, key, item.ver), tagSize).reverse();
    for (const batch of batches) await ctx.io.transact(what, batch);
    return item;
  });
  if (!removed) return false;
  await deleteObjects(ctx, [removed.bytesKey, removed.annotationsKey]);
  return true;
}

/** The tag only; the manifest's tag set keeps the name (a superset, see above). */
export async function deleteTag(ctx: DynamoContext, repository: RepositoryName, tag: Tag): Promise<boolean> {
  return ctx.io.delete("delete tag", { Key: tagKey(repository, tag), ConditionExpression: "attribute_exists(PK)" });
}

/**
 * A page of the repository's manifest items (key order is digest order), projected to what a summary
 * shows; then the tags each lists, checked with one BatchGetItem (the tag set is a superset: a tag
 * that moved on stays listed).
 */
export async function listManifests(ctx: DynamoContext, repository: RepositoryName, page: PageRequest): Promise<{ items: ManifestSummary[]; more: boolean }> {
  const what = "list manifests";
  const pk = repositoryPk(repository);
  const items = await ctx.io.query(
    what,
    {
      KeyConditionExpression: "PK = :pk AND begins_with(SK, :manifests)",
      ExpressionAttributeValues: { ":pk": pk, ":manifests": MANIFEST_PREFIX },
      ProjectionExpression: "PK, SK, #digest, #mediaType, #size, #artifactType, #tags, #createdAt",
      ExpressionAttributeNames: SUMMARY_NAMES,
      ConsistentRead: true,
      ...(page.after !== undefined ? { ExclusiveStartKey: manifestKey(repository, page.after) } : {}),
    },
    page.limit + 1,
  );
  const listed = (items.slice(0, page.limit) as ManifestItem[]);
  const candidates = listed.flatMap((m) => [...(m.tags ?? [])].map((tag) => ({ tag, digest: m.digest })));
  const tagItems = await ctx.io.getMany(what, candidates.map((c) => tagKey(repository, c.tag)), { expression: "PK, SK, #digest", names: { "#digest": "digest" } });
  const current = new Map<string, string[]>();
  candidates.forEach((c, i) => {
    if (tagItems[i]?.digest === c.digest) current.set(c.digest, [...(current.get(c.digest) ?? []), c.tag]);
  });
  return {
    items: listed.map((m) => ({
      digest: m.digest as Digest,
      mediaType: m.mediaType,
      size: Number(m.size),
      ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
      tags: ((current.get(m.digest) ?? []) as Tag[]).sort(),
      createdAt: Number(m.createdAt),
    })),
    more: items.length > page.limit,
  };
}

const SUMMARY_NAMES = {
  "#digest": "digest", "#mediaType": "mediaType", "#size": "size", "#artifactType": "artifactType", "#tags": "tags", "#createdAt": "createdAt",
};

export async function listReferrers(ctx: DynamoContext, repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]> {
  const items = await ctx.io.query("list referrers", {
    KeyConditionExpression: "PK = :pk AND begins_with(SK, :prefix)",
    ExpressionAttributeValues: { ":pk": repositoryPk(repository), ":prefix": referrerPrefix(subject) },
    ConsistentRead: true,
  });
  const referrers = await Promise.all(
    (items as (Item & Body)[]).map(async (item): Promise<ReferrerRecord | undefined> => {
      const annotations = await annotationsOf(ctx, item);
      if (annotations === null) return undefined;
      return {
        digest: item.digest as Digest,
        mediaType: item.mediaType,
        size: Number(item.size),
        ...(item.artifactType !== undefined ? { artifactType: item.artifactType } : {}),
        ...(annotations !== undefined ? { annotations } : {}),
      };
    }),
  );
  return referrers.filter((r): r is ReferrerRecord => r !== undefined);
}

/** The body of a new manifest: inline, or with its bytes (and big annotations) written to the overflow store. */
async function newBody(ctx: DynamoContext, manifest: ManifestRecord, written: string[]): Promise<Body> {
  const annotations = manifest.annotations !== undefined ? JSON.stringify(manifest.annotations) : undefined;
  const annotationsSize = annotations === undefined ? 0 : Buffer.byteLength(annotations);
  const body: Body = {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    size: manifest.bytes.byteLength,
    createdAt: manifest.createdAt,
    ...(manifest.subject !== undefined ? { subject: manifest.subject } : {}),
    ...(manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
  };
  const inlineAnnotations = annotationsSize <= ANNOTATIONS_INLINE_MAX;
  if (inlineAnnotations && manifest.bytes.byteLength + annotationsSize <= ctx.inlineManifestBytes) {
    return { ...body, bytes: manifest.bytes, ...(annotations !== undefined ? { annotations } : {}) };
  }
  const overflow = ctx.overflow;
  if (!overflow) {
    throw new RegistryError(
      "MANIFEST_INVALID",
      `manifest is ${manifest.bytes.byteLength} bytes; without a manifest overflow bucket this registry stores manifests up to ${ctx.inlineManifestBytes} bytes`,
      { size: manifest.bytes.byteLength, limit: ctx.inlineManifestBytes },
      { status: 413 },
    );
  }
  // A key of its own for every push: two pushes never write one object, and a delete never takes bytes a later push uses.
  const bytesKey = `${manifest.repository}/${manifest.digest.replace(":", "/")}/${randomUUID()}`;
  await overflow.put(bytesKey, manifest.bytes);
  written.push(bytesKey);
  if (inlineAnnotations) return { ...body, bytesKey, ...(annotations !== undefined ? { annotations } : {}) };
  const annotationsKey = `${bytesKey}.annotations.json`;
  await overflow.put(annotationsKey, new TextEncoder().encode(annotations));
  written.push(annotationsKey);
  return { ...body, bytesKey, annotationsKey };
}

async function toRecord(ctx: DynamoContext, repository: RepositoryName, item: Item & Body): Promise<ManifestRecord | undefined> {
  const digest = item.digest as Digest;
  let bytes = item.bytes;
  if (bytes === undefined) {
    bytes = await requireOverflow(ctx).get(item.bytesKey!);
    // Deleted between the item read and this one: the manifest is gone.
    if (bytes === undefined) return undefined;
    if (digestOf(bytes, digestAlgorithm(digest)) !== digest) {
      throw new StorageUnavailableError(`get manifest: overflow object ${item.bytesKey} does not hash to ${digest}`);
    }
  }
  const annotations = await annotationsOf(ctx, item);
  if (annotations === null) return undefined;
  return {
    repository,
    digest,
    mediaType: item.mediaType,
    bytes,
    ...(item.subject !== undefined ? { subject: item.subject as Digest } : {}),
    ...(item.artifactType !== undefined ? { artifactType: item.artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    createdAt: Number(item.createdAt),
  };
}

/** The annotations, if any; null when their overflow object is gone (the manifest was deleted meanwhile). */
async function annotationsOf(ctx: DynamoContext, item: Body): Promise<Record<string, string> | undefined | null> {
  let json = item.annotations;
  if (json === undefined && item.annotationsKey !== undefined) {
    const stored = await requireOverflow(ctx).get(item.annotationsKey);
    if (stored === undefined) return null;
    json = new TextDecoder().decode(stored);
  }
  return json === undefined ? undefined : (JSON.parse(json) as Record<string, string>);
}

function bodyOf(item: ManifestItem): Body {
  const body: Record<string, unknown> = {};
  for (const name of BODY_ATTRIBUTES) if (item[name] !== undefined) body[name] = item[name];
  return body as unknown as Body;
}

function referrerBody(body: Body): Record<string, unknown> {
  const { digest, mediaType, size, artifactType, annotations, annotationsKey } = body;
  return Object.fromEntries(Object.entries({ digest, mediaType, size, artifactType, annotations, annotationsKey }).filter(([, v]) => v !== undefined));
}

function versionCheck(ctx: DynamoContext, key: Item, ver: string): TransactItem {
  return {
    ConditionCheck: {
      TableName: ctx.table, Key: key, ConditionExpression: "#ver = :ver",
      ExpressionAttributeNames: { "#ver": "ver" }, ExpressionAttributeValues: { ":ver": ver },
    },
  };
}

/** After a push: removes overflow objects this push wrote that the stored manifest does not use (a racer's won). */
async function dropUnused(ctx: DynamoContext, key: Item, written: string[]): Promise<void> {
  try {
    const item = (await ctx.io.get("put manifest", key)) as ManifestItem | undefined;
    const used = new Set([item?.bytesKey, item?.annotationsKey]);
    await deleteObjects(ctx, written.filter((k) => !used.has(k)));
  } catch {
    // Best effort: an object left behind is unreferenced garbage, never a wrong answer.
  }
}

async function deleteObjects(ctx: DynamoContext, keys: (string | undefined)[]): Promise<void> {
  const present = keys.filter((k): k is string => k !== undefined);
  if (present.length === 0) return;
  // The metadata is already gone; an object that fails to go is unreferenced garbage, so don't fail the delete.
  await Promise.all(present.map((k) => requireOverflow(ctx).delete(k).catch(() => undefined)));
}

function requireOverflow(ctx: DynamoContext) {
  if (!ctx.overflow) throw new StorageUnavailableError("a manifest lives in the overflow store, but none is configured");
  return ctx.overflow;
}
