import { randomUUID } from "node:crypto";
import type { Page, PageRequest, QuotaExceeded, RepositoryName, TenantId, TenantLimits, TenantUsage } from "@stratus/core";
import type { DynamoContext } from "./dynamo-context.ts";
import type { Item, TransactItem } from "./dynamo-io.ts";
import { CATALOG_PK, TAG_PREFIX, catalogKey, repositoryKey, repositoryPk, usageKey } from "./dynamo-keys.ts";

// Repositories (marker + catalog entry), the usage figures and the quota checks, and the lexical
// listings of tags and repositories.
//
// The usage item also counts the tenant's open upload sessions and the bytes they have staged
// (uploadSessions, stagedBytes: dynamo-uploads.ts), because staged bytes count against storedBytes'
// limit: a condition cannot add two attributes, so a growing total is conditional on each figure
// staying within its share of the room read (usageUpdate), which is exact (never past the limit).
//
// Quotas need a check that is exact under races (DESIGN.md "Tenancy"), and DynamoDB can only
// condition a write on one item's own attributes, not on a sum over items. So each figure a limit
// applies to lives in one item: the tenant's usage item ("T#<tenant>", "U": repositories,
// storedBytes) and the repository marker ("R#<repository>", "R": manifests). A change ADDs to them
// in the same transaction as the items whose creation or deletion it counts, under those items'
// conditions (exact under races and replays) and, when limits apply, under a condition on the figure
// itself ("storedBytes <= max - size"): of N racers for the last room, one commits, the others' whole
// transactions are cancelled, read again and are refused. Refusals are decided on a strongly
// consistent read before any write (the condition only catches a racer that got in between), so a
// refused change writes nothing.
//
// The price: transactions that touch one item conflict, so a tenant's usage-changing writes (a new
// blob, repository or manifest; deletes) run one at a time; a conflict is retried with jittered
// backoff (DynamoIo.retrying). Writes that change no figure (a blob the tenant has, linked again; a
// re-push) do not touch the usage item. docs/dynamodb.md "Quotas" has the numbers.

const NOT_EXISTS = "attribute_not_exists(PK)";
const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** What a change adds to the figures that limits apply to. */
export interface UsageDelta {
  repositories: number;
  storedBytes: number;
  /** A manifest new to the repository, whose marker holds `manifests` (the count read). */
  manifest?: { count: number };
  /** Upload sessions opened (1) or closed (-1), and bytes they staged (or gave up, negative). */
  uploadSessions?: number;
  stagedBytes?: number;
}

/** The usage item's figures as read, the upload ones included (absent: nothing yet). */
export interface UsageRead extends TenantUsage {
  uploadSessions: number;
  stagedBytes: number;
}

/**
 * Creates the repository (owned by `tenant`): its marker, counting `manifests`, and its catalog entry,
 * both new. The marker's `ver` is a random version, replaced by every link added to the repository
 * (linkedVersionUpdate): deleteRepository removes the marker only while `ver` and the manifest count
 * say nothing was added since it looked (dynamo-repository-delete.ts).
 */
export function createRepositoryItems(ctx: DynamoContext, tenant: TenantId, repository: RepositoryName, manifests = 0): TransactItem[] {
  return [
    {
      Put: {
        TableName: ctx.table,
        Item: { ...repositoryKey(repository), tenant, manifests, ver: randomUUID(), createdAt: ctx.clock.now() },
        ConditionExpression: NOT_EXISTS,
      },
    },
    { Put: { TableName: ctx.table, Item: { ...catalogKey(repository), tenant }, ConditionExpression: NOT_EXISTS } },
  ];
}

/**
 * Replaces the marker's version, which must exist: goes with every link added to an existing
 * repository, so that a link landing while the repository is deleted cancels the final transaction
 * (and one landing after it fails here, reads again and creates the repository anew).
 */
export function linkedVersionUpdate(ctx: DynamoContext, repository: RepositoryName): TransactItem {
  return {
    Update: {
      TableName: ctx.table,
      Key: repositoryKey(repository),
      UpdateExpression: "SET #ver = :ver",
      ConditionExpression: "attribute_exists(PK)",
      ExpressionAttributeNames: { "#ver": "ver" },
      ExpressionAttributeValues: { ":ver": randomUUID() },
    },
  };
}

/** The usage figures of a tenant's usage item as read (absent: nothing yet). */
export function usageOf(item: Item | undefined): TenantUsage {
  return { repositories: Number(item?.repositories ?? 0), storedBytes: Number(item?.storedBytes ?? 0) };
}

export function usageRead(item: Item | undefined): UsageRead {
  return { ...usageOf(item), uploadSessions: Number(item?.uploadSessions ?? 0), stagedBytes: Number(item?.stagedBytes ?? 0) };
}

/**
 * Whether storedBytes' limit is checked: the change adds stored or staged bytes (a commit adds the
 * blob's and removes its session's, which count once, so a blob exactly filling the plan commits).
 */
function addsBytes(delta: Omit<UsageDelta, "manifest">): boolean {
  return delta.storedBytes > 0 || (delta.stagedBytes ?? 0) > 0;
}

/** Bytes in use that storedBytes' limit applies to after the change: stored and staged, each with its delta. */
function bytesAfter(usage: UsageRead, delta: Omit<UsageDelta, "manifest">): number {
  return usage.storedBytes + usage.stagedBytes + delta.storedBytes + (delta.stagedBytes ?? 0);
}

/**
 * The limit the change would pass, on the figures read; checked in the order repositories, manifests,
 * stored bytes (stored plus staged, when the change adds to them), upload sessions.
 */
export function quotaRefusal(limits: TenantLimits, usage: UsageRead, delta: UsageDelta): QuotaExceeded | undefined {
  if (delta.repositories > 0 && usage.repositories + delta.repositories > limits.repositories) {
    return { ok: false, limit: "repositories", max: limits.repositories, usage: usage.repositories };
  }
  if (delta.manifest && delta.manifest.count + 1 > limits.manifestsPerRepository) {
    return { ok: false, limit: "manifestsPerRepository", max: limits.manifestsPerRepository, usage: delta.manifest.count };
  }
  if (addsBytes(delta) && bytesAfter(usage, delta) > limits.storedBytes) {
    // Reported as the figures stand without the change's own part (a committing session's bytes).
    const staged = usage.stagedBytes + Math.min(0, delta.stagedBytes ?? 0);
    return { ok: false, limit: "storedBytes", max: limits.storedBytes, usage: usage.storedBytes, ...(staged > 0 ? { stagedBytes: staged } : {}) };
  }
  if ((delta.uploadSessions ?? 0) > 0 && usage.uploadSessions + delta.uploadSessions! > limits.uploadSessions) {
    return { ok: false, limit: "uploadSessions", max: limits.uploadSessions, usage: usage.uploadSessions };
  }
  return undefined;
}

/**
 * ADDs the delta to the tenant's usage item; undefined when there is nothing to add. With limits, a
 * growing figure is conditional on the room the limit leaves (checked against the read beforehand,
 * so the room is never negative here). Stored plus staged bytes are two attributes, and a condition
 * cannot add them: each is held to the figure read plus a share of the room (`read`, required when
 * the bytes grow under a limit), so whatever else lands meanwhile, the sum stays within the limit;
 * a racer that takes more than its share fails the condition, reads again and is decided anew.
 */
export function usageUpdate(
  ctx: DynamoContext, tenant: TenantId, delta: Omit<UsageDelta, "manifest">, limits?: TenantLimits, read?: UsageRead,
): TransactItem | undefined {
  const figures = {
    repositories: delta.repositories, storedBytes: delta.storedBytes, uploadSessions: delta.uploadSessions ?? 0, stagedBytes: delta.stagedBytes ?? 0,
  };
  const added = Object.entries(figures).filter(([, n]) => n !== 0);
  if (added.length === 0) return undefined;
  const conditions: string[] = [];
  const values: Record<string, number> = Object.fromEntries(added.map(([name, n]) => [`:${name}`, n]));
  const names: Record<string, string> = Object.fromEntries(added.map(([name]) => [`#${name}`, name]));
  const atMost = (name: keyof typeof figures, max: number) => {
    names[`#${name}`] = name;
    values[`:max_${name}`] = max;
    conditions.push(`(attribute_not_exists(#${name}) OR #${name} <= :max_${name})`);
  };
  if (limits && figures.repositories > 0 && limits.repositories < UNLIMITED) atMost("repositories", room(limits.repositories, figures.repositories));
  if (limits && addsBytes(figures) && limits.storedBytes < UNLIMITED) {
    if (!read) throw new Error("usageUpdate: adding bytes under a limit needs the figures read");
    const spare = room(limits.storedBytes, bytesAfter(read, figures));
    const storedShare = Math.floor(spare / 2);
    atMost("storedBytes", read.storedBytes + storedShare);
    atMost("stagedBytes", read.stagedBytes + (spare - storedShare));
  }
  if (limits && figures.uploadSessions > 0 && limits.uploadSessions < UNLIMITED) atMost("uploadSessions", room(limits.uploadSessions, figures.uploadSessions));
  return {
    Update: {
      TableName: ctx.table,
      Key: usageKey(tenant),
      UpdateExpression: `ADD ${added.map(([name]) => `#${name} :${name}`).join(", ")}`,
      ...(conditions.length > 0 ? { ConditionExpression: conditions.join(" AND ") } : {}),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    },
  };
}

/**
 * ADDs to the manifest count on the repository's marker, which must exist (an Update would otherwise
 * create a bare marker). With `max`, an increment is conditional on the count leaving room.
 */
export function manifestCountUpdate(ctx: DynamoContext, repository: RepositoryName, delta: number, max?: number): TransactItem {
  const limited = max !== undefined && max < UNLIMITED && delta > 0;
  return {
    Update: {
      TableName: ctx.table,
      Key: repositoryKey(repository),
      UpdateExpression: "ADD #manifests :n",
      ConditionExpression: limited ? "attribute_exists(PK) AND (attribute_not_exists(#manifests) OR #manifests <= :max)" : "attribute_exists(PK)",
      ExpressionAttributeNames: { "#manifests": "manifests" },
      ExpressionAttributeValues: { ":n": delta, ...(limited ? { ":max": room(max, delta) } : {}) },
    },
  };
}

export async function tenantUsage(ctx: DynamoContext, tenant: TenantId): Promise<TenantUsage> {
  return usageOf(await ctx.io.get("read usage", usageKey(tenant)));
}

export async function manifestCount(ctx: DynamoContext, repository: RepositoryName): Promise<number> {
  return Number((await ctx.io.get("count manifests", repositoryKey(repository)))?.manifests ?? 0);
}

export async function repositoryExists(ctx: DynamoContext, repository: RepositoryName): Promise<boolean> {
  return (await ctx.io.get("find repository", repositoryKey(repository))) !== undefined;
}

/**
 * The catalog partition, from `after` (exclusive; need not name a repository); with `prefix`, only
 * names starting with it (begins_with on the sort key: one range of the partition).
 */
export async function listRepositories(ctx: DynamoContext, page: PageRequest, prefix = ""): Promise<Page> {
  const after = page.after;
  // DynamoDB refuses a start key outside the key condition's range. An `after` before the prefix
  // starts at its beginning; one past it (greater, not starting with it) is past every name in it.
  if (after !== undefined && after > prefix && !after.startsWith(prefix)) return { items: [], more: false };
  const start = after !== undefined && after.startsWith(prefix) ? { ExclusiveStartKey: catalogKey(after as RepositoryName) } : {};
  const items = await ctx.io.query(
    "list repositories",
    {
      KeyConditionExpression: prefix === "" ? "PK = :pk" : "PK = :pk AND begins_with(SK, :prefix)",
      ExpressionAttributeValues: { ":pk": CATALOG_PK, ...(prefix === "" ? {} : { ":prefix": prefix }) },
      ProjectionExpression: "SK",
      ConsistentRead: true,
      ...start,
    },
    page.limit + 1,
  );
  return toPage(items.map((item) => item.SK), page.limit);
}

/** The repository's tag items in key order (DynamoDB orders strings by UTF-8 bytes: lexical for tags). */
export async function listTags(ctx: DynamoContext, repository: RepositoryName, page: PageRequest): Promise<Page | undefined> {
  const pk = repositoryPk(repository);
  const items = await ctx.io.query(
    "list tags",
    {
      KeyConditionExpression: "PK = :pk AND begins_with(SK, :tags)",
      ExpressionAttributeValues: { ":pk": pk, ":tags": TAG_PREFIX },
      ProjectionExpression: "SK",
      ConsistentRead: true,
      ...(page.after !== undefined ? { ExclusiveStartKey: { PK: pk, SK: `${TAG_PREFIX}${page.after}` } } : {}),
    },
    page.limit + 1,
  );
  // Tags exist only in existing repositories; an empty page needs a look at the marker.
  if (items.length === 0 && !(await repositoryExists(ctx, repository))) return undefined;
  return toPage(items.map((item) => item.SK.slice(TAG_PREFIX.length)), page.limit);
}

function room(max: number, delta: number): number {
  // The read-time check refused any change larger than its limit; a negative room here is a bug.
  if (max - delta < 0) throw new Error(`usage condition with no room: max ${max}, delta ${delta}`);
  return max - delta;
}

/** Fetched limit + 1 items: the extra one only says whether there is more. */
function toPage(items: string[], limit: number): Page {
  return items.length > limit ? { items: items.slice(0, limit), more: true } : { items, more: false };
}
