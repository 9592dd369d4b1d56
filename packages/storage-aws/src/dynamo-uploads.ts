import type { RepositoryName, TenantId, UploadId, UploadSession } from "@stratus/core";
import type { DynamoContext } from "./dynamo-context.ts";
import type { Item } from "./dynamo-io.ts";
import { IDLE_SHARDS, idlePk, idleShardOf, idleSortKey, uploadKey } from "./dynamo-keys.ts";
import { IDLE_INDEX, TTL_ATTRIBUTE } from "./dynamo-table.ts";

// Upload sessions: one item each ("U#<id>", "U"), with a TTL attribute so DynamoDB removes the ones
// nobody swept. TTL deletion is late (up to days), so reads treat an item past its TTL as gone.
// The sweep (listIdleUploads) finds idle sessions through the keys-only GSI "idle", whose sort key
// is updatedAt; the index is eventually consistent, so each candidate is read back from the table.

interface UploadItem extends Item {
  id: string;
  repository: string;
  tenant: string;
  size: number;
  staging: string;
  hashState?: string;
  createdAt: number;
  updatedAt: number;
  ttl: number;
}

export async function createUpload(ctx: DynamoContext, session: UploadSession): Promise<void> {
  await ctx.io.put("create upload", { Item: toItem(ctx, session) });
}

export async function getUpload(ctx: DynamoContext, id: UploadId): Promise<UploadSession | undefined> {
  const item = (await ctx.io.get("get upload", uploadKey(id))) as UploadItem | undefined;
  return item && !expired(ctx, item) ? toSession(item) : undefined;
}

/** Saves size, staging, hash state and times only if the stored size is still `expectedSize`. */
export async function updateUpload(ctx: DynamoContext, session: UploadSession, expectedSize: number): Promise<boolean> {
  const sets = ["#size = :size", "#staging = :staging", "#updatedAt = :updatedAt", "#ttl = :ttl", "#idleSK = :idleSK"];
  const names: Record<string, string> = {
    "#size": "size", "#staging": "staging", "#updatedAt": "updatedAt", "#ttl": TTL_ATTRIBUTE, "#idleSK": IDLE_INDEX.sortKey, "#hashState": "hashState",
  };
  const values: Record<string, unknown> = {
    ":size": session.size,
    ":staging": JSON.stringify(session.staging),
    ":updatedAt": session.updatedAt,
    ":ttl": ttlOf(ctx, session.updatedAt),
    ":idleSK": idleSortKey(session.updatedAt, session.id),
    ":expected": expectedSize,
  };
  if (session.hashState !== undefined) {
    sets.push("#hashState = :hashState");
    values[":hashState"] = session.hashState;
  }
  // Not conditional on the TTL: core keeps a session alive while a request streams into it, however long.
  return ctx.io.update("update upload", {
    Key: uploadKey(session.id),
    UpdateExpression: `SET ${sets.join(", ")}${session.hashState === undefined ? " REMOVE #hashState" : ""}`,
    ConditionExpression: "attribute_exists(PK) AND #size = :expected",
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  });
}

export async function deleteUpload(ctx: DynamoContext, id: UploadId): Promise<void> {
  await ctx.io.delete("delete upload", { Key: uploadKey(id) });
}

/**
 * Sessions not updated since `before`, oldest first, at most `limit`: the first `limit` of each GSI
 * shard, merged. Sessions past their TTL are included: the sweep must still remove their staged bytes.
 */
export async function listIdleUploads(ctx: DynamoContext, before: number, limit: number): Promise<UploadSession[]> {
  const what = "list uploads";
  const shards = await Promise.all(
    Array.from({ length: IDLE_SHARDS }, (_, shard) =>
      ctx.io.query(
        what,
        {
          IndexName: IDLE_INDEX.name,
          KeyConditionExpression: "#pk = :pk AND #sk < :before",
          ExpressionAttributeNames: { "#pk": IDLE_INDEX.partitionKey, "#sk": IDLE_INDEX.sortKey },
          ExpressionAttributeValues: { ":pk": idlePk(shard), ":before": idleSortKey(before) },
        },
        limit,
      ),
    ),
  );
  const candidates = shards
    .flat()
    .map((item) => ({ item, order: String(item[IDLE_INDEX.sortKey]) }))
    .sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
    .map(({ item }) => item)
    .slice(0, limit);
  const items = (await ctx.io.getMany(what, candidates.map((c) => ({ PK: c.PK, SK: c.SK })))) as (UploadItem | undefined)[];
  // The index lags the table: keep what is still there and still idle.
  return items.filter((item): item is UploadItem => item !== undefined && item.updatedAt < before).map(toSession);
}

function toItem(ctx: DynamoContext, session: UploadSession): UploadItem {
  return {
    ...uploadKey(session.id),
    id: session.id,
    repository: session.repository,
    tenant: session.tenant,
    size: session.size,
    staging: JSON.stringify(session.staging),
    ...(session.hashState !== undefined ? { hashState: session.hashState } : {}),
    createdAt: session.createdAt,
    updatedAt: session.updatedAt,
    [TTL_ATTRIBUTE]: ttlOf(ctx, session.updatedAt),
    [IDLE_INDEX.partitionKey]: idlePk(idleShardOf(session.id)),
    [IDLE_INDEX.sortKey]: idleSortKey(session.updatedAt, session.id),
  };
}

function toSession(item: UploadItem): UploadSession {
  return {
    id: item.id as UploadId,
    repository: item.repository as RepositoryName,
    tenant: item.tenant as TenantId,
    size: Number(item.size),
    staging: JSON.parse(item.staging) as UploadSession["staging"],
    ...(item.hashState !== undefined ? { hashState: item.hashState } : {}),
    createdAt: Number(item.createdAt),
    updatedAt: Number(item.updatedAt),
  };
}

/** Epoch seconds, as DynamoDB TTL wants them. */
function ttlOf(ctx: DynamoContext, updatedAt: number): number {
  return Math.ceil(updatedAt / 1000) + ctx.sessionTtlSeconds;
}

function expired(ctx: DynamoContext, item: UploadItem): boolean {
  return Number(item[TTL_ATTRIBUTE]) * 1000 <= ctx.clock.now();
}
