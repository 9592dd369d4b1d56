import { StorageUnavailableError, type BlobRecord, type Digest, type RepositoryName, type TenantId } from "@stratus/core";
import type { DynamoContext } from "./dynamo-context.ts";
import { Contention, type Item, type TransactItem } from "./dynamo-io.ts";
import { catalogKey, manifestKey, MANIFEST_PREFIX, REFERRER_PREFIX, REPOSITORY_SK, repositoryKey, repositoryPk, TAG_PREFIX } from "./dynamo-keys.ts";
import { unlinkBlob } from "./dynamo-blobs.ts";
import { deleteManifest } from "./dynamo-manifests.ts";
import { usageUpdate } from "./dynamo-repositories.ts";

// Deleting a repository (ports.ts deleteRepository; docs/dynamodb.md "Deleting a repository").
//
// A repository's partition can hold far more items than one TransactWriteItems takes (100), so the
// delete is a sequence of steps, each one transaction that keeps every counter exact:
//
// 1. Read the marker (its `ver` and manifest count), then list the partition.
// 2. While it holds content: delete each manifest (deleteManifest: its tags and referrer entry, the
//    marker's count, the tenant's bytes) and unlink each blob (unlinkBlob: the blob record with its
//    last link, returned as an orphan); then back to 1.
// 3. Once the partition holds only the marker: delete the marker [same `ver`, manifests = 0] and
//    the catalog entry, and take one from the tenant's repositories, in one transaction.
//
// The condition in 3 is what makes a racing push safe. Every write that adds to a repository touches
// its marker: a new manifest counts itself on it, a new link replaces `ver` (linkedVersionUpdate),
// both conditional on the marker existing. So a push that lands before step 3 cancels it (the
// delete looks again and deletes what came); one that lands after finds no marker, reads again and
// creates the repository anew, counted once. Tags and referrer entries only come with a manifest.

/** Items listed per round: a very large repository is deleted over several rounds. */
const ROUND_ITEMS = 1000;
/** Rounds that found the whole partition with content again: only pushes racing the delete cause more than one. */
const MAX_COMPLETE_ROUNDS = 10;

const LINK_PREFIX = "L#";

type Step = { kind: "gone" } | { kind: "deleted" } | { kind: "content"; items: Item[] };

export async function deleteRepository(ctx: DynamoContext, tenant: TenantId, repository: RepositoryName): Promise<{ deleted: boolean; orphans: BlobRecord[] }> {
  const what = "delete repository";
  const orphans: BlobRecord[] = [];
  let found = false;
  for (let complete = 0; ; ) {
    const step = await ctx.io.retrying(what, async (): Promise<Step> => {
      const marker = await ctx.io.get(what, repositoryKey(repository));
      if (!marker || marker.tenant !== tenant) return { kind: "gone" };
      const items = await contentOf(ctx, repository);
      if (items.length > 0) return { kind: "content", items };
      // A push since the read cancels this (condition failed): retrying reads and lists again.
      await ctx.io.transact(what, removal(ctx, tenant, repository, marker));
      return { kind: "deleted" };
    });
    // Gone in a later round: a concurrent delete of the same repository took the marker.
    if (step.kind === "gone") return { deleted: found, orphans };
    found = true;
    if (step.kind === "deleted") return { deleted: true, orphans };
    if (step.items.length < ROUND_ITEMS && ++complete > MAX_COMPLETE_ROUNDS) {
      throw new StorageUnavailableError(`${what}: content kept arriving in ${repository} over ${MAX_COMPLETE_ROUNDS} rounds; try again`);
    }
    orphans.push(...(await deleteContent(ctx, tenant, repository, step.items)));
  }
}

/** Up to ROUND_ITEMS items of the partition other than the marker: keys, and the digest a tag points at. */
async function contentOf(ctx: DynamoContext, repository: RepositoryName): Promise<Item[]> {
  const items = await ctx.io.query(
    "delete repository",
    {
      KeyConditionExpression: "PK = :pk",
      ExpressionAttributeValues: { ":pk": repositoryPk(repository) },
      ProjectionExpression: "PK, SK, #digest",
      ExpressionAttributeNames: { "#digest": "digest" },
      ConsistentRead: true,
    },
    ROUND_ITEMS + 1,
  );
  return items.filter((item) => item.SK !== REPOSITORY_SK).slice(0, ROUND_ITEMS);
}

/** Deletes the listed content with the per-item operations; returns the blobs whose last link went. */
async function deleteContent(ctx: DynamoContext, tenant: TenantId, repository: RepositoryName, items: Item[]): Promise<BlobRecord[]> {
  const orphans: BlobRecord[] = [];
  const manifests = new Set<string>();
  // One at a time: each changes the tenant's usage item, so in parallel they would only conflict (docs/dynamodb.md "Quotas").
  for (const item of items.filter((i) => i.SK.startsWith(MANIFEST_PREFIX))) {
    const digest = item.SK.slice(MANIFEST_PREFIX.length) as Digest;
    manifests.add(digest);
    await deleteManifest(ctx, repository, digest);
  }
  for (const item of items.filter((i) => i.SK.startsWith(LINK_PREFIX))) {
    const { orphan } = await unlinkBlob(ctx, tenant, repository, item.SK.slice(LINK_PREFIX.length) as Digest);
    if (orphan) orphans.push(orphan);
  }
  // A tag or referrer entry whose manifest was not listed: its manifest came after the listing (it goes
  // next round), or is gone and the entry was left behind (never, by design; removed here all the same,
  // only while its manifest is absent, so the delete cannot loop on it).
  for (const item of items.filter((i) => i.SK.startsWith(TAG_PREFIX) || i.SK.startsWith(REFERRER_PREFIX))) {
    const digest = item.SK.startsWith(TAG_PREFIX) ? String(item.digest) : item.SK.slice(item.SK.lastIndexOf("#") + 1);
    if (manifests.has(digest)) continue;
    try {
      await ctx.io.transact("delete repository", [
        { ConditionCheck: { TableName: ctx.table, Key: manifestKey(repository, digest), ConditionExpression: "attribute_not_exists(PK)" } },
        { Delete: { TableName: ctx.table, Key: { PK: item.PK, SK: item.SK } } },
      ]);
    } catch (error) {
      if (!(error instanceof Contention)) throw error;
    }
  }
  return orphans;
}

/** The last step: marker and catalog entry go, the tenant has one repository less; only if nothing was added since `marker` was read. */
function removal(ctx: DynamoContext, tenant: TenantId, repository: RepositoryName, marker: Item): TransactItem[] {
  const ver = marker.ver;
  return [
    {
      Delete: {
        TableName: ctx.table,
        Key: repositoryKey(repository),
        // Markers written before versions existed have none: the first link since gives them one.
        ConditionExpression: `#tenant = :tenant AND (attribute_not_exists(#manifests) OR #manifests = :zero) AND ${ver === undefined ? "attribute_not_exists(#ver)" : "#ver = :ver"}`,
        ExpressionAttributeNames: { "#tenant": "tenant", "#manifests": "manifests", "#ver": "ver" },
        ExpressionAttributeValues: { ":tenant": tenant, ":zero": 0, ...(ver === undefined ? {} : { ":ver": ver }) },
      },
    },
    { Delete: { TableName: ctx.table, Key: catalogKey(repository) } },
    usageUpdate(ctx, tenant, { repositories: -1, storedBytes: 0 })!,
  ];
}
