import type {
  QuotaExceeded, QuotaOutcome, RepositoryName, TenantId, TenantLimits, UploadId, UploadSession, UploadUsage,
} from "@stratus/core";
import type { DynamoContext } from "./dynamo-context.ts";
import { Contention, type Item, type TransactItem } from "./dynamo-io.ts";
import { IDLE_SHARDS, idlePk, idleShardOf, idleSortKey, keyOf, uploadKey, usageKey } from "./dynamo-keys.ts";
import { quotaRefusal, usageRead, usageUpdate, type UsageRead } from "./dynamo-repositories.ts";
import { IDLE_INDEX, TTL_ATTRIBUTE } from "./dynamo-table.ts";

// Upload sessions: one item each ("U#<id>", "U"). The sweep (listIdleUploads) finds idle sessions
// through the keys-only GSI "idle", whose sort key is updatedAt; the index is eventually consistent,
// so each candidate is read back from the table.
//
// Counting (issue 10): the tenant's usage item counts its open sessions (uploadSessions) and their
// staged bytes (stagedBytes), ADDed in the same transaction as each session write, conditional under
// limits. Sessions written before counting existed lack `counted` and are never counted out.
//
// TTL: a session item carries a TTL attribute, but only as a backstop far behind the sweep
// (openAwsStorage: upload TTL + 7 days), because a TTL deletion removes the item without counting
// it out: the figures would stay high (refusing, never letting bytes through) until corrected. The
// sweep (every few minutes) removes sessions through deleteUpload, which counts them out, long
// before. TTL deletion is also late (up to days), so reads treat an item past its TTL as gone.

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
  /** 1 when the usage item counts this session (every session written since counting exists). */
  counted?: number;
}

const OK: QuotaOutcome = { ok: true };
const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Stores the session, counted in; under limits only while the tenant has room for another. */
export async function createUpload(ctx: DynamoContext, session: UploadSession, limits?: TenantLimits): Promise<QuotaOutcome> {
  const what = "create upload";
  const limited = limits !== undefined && limits.uploadSessions < UNLIMITED;
  const delta = { repositories: 0, storedBytes: 0, uploadSessions: 1, stagedBytes: session.size };
  return ctx.io.retrying(what, async () => {
    const read = usageRead(limited ? await ctx.io.get(what, usageKey(session.tenant)) : undefined);
    const refused = limited && quotaRefusal(limits, read, delta);
    if (refused) return refused;
    await ctx.io.transact(what, [
      // Ids are random UUIDs: never there already, so the count cannot take one session twice.
      { Put: { TableName: ctx.table, Item: toItem(ctx, session), ConditionExpression: "attribute_not_exists(PK)" } },
      usageUpdate(ctx, session.tenant, delta, limited ? limits : undefined, read)!,
    ]);
    return OK;
  });
}

export async function uploadUsage(ctx: DynamoContext, tenant: TenantId): Promise<UploadUsage> {
  const read = usageRead(await ctx.io.get("read usage", usageKey(tenant)));
  return { sessions: read.uploadSessions, stagedBytes: read.stagedBytes, storedBytes: read.storedBytes };
}

/** The staged size the usage item counts for this session item; undefined for one written before counting. */
export function countedSize(item: Item): number | undefined {
  return item.counted === 1 ? Number(item.size) : undefined;
}

/** Deletes the session item only as it was read (same size): a write in between makes the caller read again. */
export function uploadDelete(ctx: DynamoContext, item: Item): TransactItem {
  return {
    Delete: {
      TableName: ctx.table, Key: keyOf(item), ConditionExpression: "#size = :size",
      ExpressionAttributeNames: { "#size": "size" }, ExpressionAttributeValues: { ":size": Number(item.size) },
    },
  };
}

export async function getUpload(ctx: DynamoContext, id: UploadId): Promise<UploadSession | undefined> {
  const item = (await ctx.io.get("get upload", uploadKey(id))) as UploadItem | undefined;
  return item && !expired(ctx, item) ? toSession(item) : undefined;
}

/**
 * Saves size, staging, hash state and times only if the stored size is still `expectedSize`; a
 * change of size moves the tenant's staged bytes in the same transaction, under `limits` only while
 * stored plus staged bytes stay within storedBytes.
 */
export async function updateUpload(
  ctx: DynamoContext, session: UploadSession, expectedSize: number, limits?: TenantLimits,
): Promise<boolean | QuotaExceeded> {
  const what = "update upload";
  const added = session.size - expectedSize;
  // No bytes added: nothing to count, one conditional update.
  if (added === 0) return ctx.io.update(what, sessionUpdate(ctx, session, expectedSize, false));
  const limited = limits !== undefined && limits.storedBytes < UNLIMITED && added > 0;
  /** Whether the session is still the one the caller read (exists, same size); false answers a stale writer. */
  const current = async (): Promise<Item | false> => {
    const item = await ctx.io.get(what, uploadKey(session.id));
    return item !== undefined && Number(item.size) === expectedSize ? item : false;
  };
  return ctx.io.retrying(what, async (): Promise<boolean | QuotaExceeded> => {
    let read: UsageRead | undefined;
    if (limited) {
      read = usageRead(await ctx.io.get(what, usageKey(session.tenant)));
      const refused = quotaRefusal(limits, read, { repositories: 0, storedBytes: 0, stagedBytes: added });
      // A stale writer is told it is stale, not refused for room.
      if (refused) return (await current()) && refused;
    }
    // The common case costs no read: the session's conditions (same size, counted) hold, or the
    // transaction fails and a read says why.
    const usage = usageUpdate(ctx, session.tenant, { repositories: 0, storedBytes: 0, stagedBytes: added }, limited ? limits : undefined, read)!;
    try {
      await ctx.io.transact(what, [{ Update: sessionUpdate(ctx, session, expectedSize, true) }, usage]);
      return true;
    } catch (error) {
      if (!(error instanceof Contention) || error.reason !== "condition") throw error;
      const item = await current();
      if (!item) return false;
      // A session from before counting: saved without touching the figures, which never counted it.
      if (countedSize(item) === undefined) return ctx.io.update(what, sessionUpdate(ctx, session, expectedSize, false));
      throw error;
    }
  });
}

/**
 * The session's Update: new size, staging, hash state and times, if its size is still `expectedSize`
 * (and, with `counted`, only if the usage item counts it, so that its staged bytes may move there).
 */
function sessionUpdate(ctx: DynamoContext, session: UploadSession, expectedSize: number, counted: boolean): NonNullable<TransactItem["Update"]> {
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
    ...(counted ? { ":counted": 1 } : {}),
  };
  if (counted) names["#counted"] = "counted";
  if (session.hashState !== undefined) {
    sets.push("#hashState = :hashState");
    values[":hashState"] = session.hashState;
  }
  // Not conditional on the TTL: core keeps a session alive while a request streams into it, however long.
  return {
    TableName: ctx.table,
    Key: uploadKey(session.id),
    UpdateExpression: `SET ${sets.join(", ")}${session.hashState === undefined ? " REMOVE #hashState" : ""}`,
    ConditionExpression: `attribute_exists(PK) AND #size = :expected${counted ? " AND #counted = :counted" : ""}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** Removes the session, counting it and its staged bytes out in the same transaction. */
export async function deleteUpload(ctx: DynamoContext, id: UploadId): Promise<void> {
  const what = "delete upload";
  await ctx.io.retrying(what, async () => {
    const item = (await ctx.io.get(what, uploadKey(id))) as UploadItem | undefined;
    if (!item) return;
    const size = countedSize(item);
    const usage = size === undefined ? undefined : usageUpdate(ctx, item.tenant as TenantId, { repositories: 0, storedBytes: 0, uploadSessions: -1, stagedBytes: -size });
    await ctx.io.transact(what, [uploadDelete(ctx, item), ...(usage ? [usage] : [])]);
  });
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
    counted: 1,
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
