import type { Page, PageRequest, RepositoryName, TenantId, TenantUsage } from "@stratus/core";
import type { DynamoContext } from "./dynamo-context.ts";
import type { TransactItem } from "./dynamo-io.ts";
import {
  CATALOG_PK, COUNTER_PREFIX, TAG_PREFIX, catalogKey, counterKey, repositoryKey, repositoryPk, tenantPk,
} from "./dynamo-keys.ts";

// Repositories (marker + catalog entry), the usage counters, and the lexical listings of tags and
// repositories.
//
// Counters are sharded: a counter is the sum of its "C#<n>" items, a write ADDs to one shard picked
// at random. Transactions that touch one item conflict, so a single usage item per tenant would make
// every concurrent push of a tenant (layers upload in parallel) retry; reading all shards is still
// one Query of a few tiny items (1 RCU). Every counter change rides in the same transaction as the
// item whose creation or deletion it counts, under that item's condition: exact under races and
// under replays of a request.

const NOT_EXISTS = "attribute_not_exists(PK)";

/** Creates the repository (owned by `tenant`): its marker and its catalog entry, both new. */
export function createRepositoryItems(ctx: DynamoContext, tenant: TenantId, repository: RepositoryName): TransactItem[] {
  return [
    { Put: { TableName: ctx.table, Item: { ...repositoryKey(repository), tenant, createdAt: ctx.clock.now() }, ConditionExpression: NOT_EXISTS } },
    { Put: { TableName: ctx.table, Item: { ...catalogKey(repository), tenant }, ConditionExpression: NOT_EXISTS } },
  ];
}

export interface UsageDelta {
  repositories?: number;
  storedBytes?: number;
}

/** ADDs to one shard of the tenant's usage; undefined when there is nothing to add. */
export function usageUpdate(ctx: DynamoContext, tenant: TenantId, delta: UsageDelta): TransactItem | undefined {
  const repositories = delta.repositories ?? 0;
  const storedBytes = delta.storedBytes ?? 0;
  if (repositories === 0 && storedBytes === 0) return undefined;
  return {
    Update: {
      TableName: ctx.table,
      Key: counterKey(tenantPk(tenant), shard(ctx)),
      UpdateExpression: "ADD #repositories :r, #storedBytes :b",
      ExpressionAttributeNames: { "#repositories": "repositories", "#storedBytes": "storedBytes" },
      ExpressionAttributeValues: { ":r": repositories, ":b": storedBytes },
    },
  };
}

/** ADDs to one shard of the repository's manifest count. */
export function manifestCountUpdate(ctx: DynamoContext, repository: RepositoryName, delta: number): TransactItem {
  return {
    Update: {
      TableName: ctx.table,
      Key: counterKey(repositoryPk(repository), shard(ctx)),
      UpdateExpression: "ADD #manifests :n",
      ExpressionAttributeNames: { "#manifests": "manifests" },
      ExpressionAttributeValues: { ":n": delta },
    },
  };
}

export async function tenantUsage(ctx: DynamoContext, tenant: TenantId): Promise<TenantUsage> {
  const shards = await counterShards(ctx, "read usage", tenantPk(tenant));
  return {
    repositories: shards.reduce((sum, s) => sum + Number(s.repositories ?? 0), 0),
    storedBytes: shards.reduce((sum, s) => sum + Number(s.storedBytes ?? 0), 0),
  };
}

export async function manifestCount(ctx: DynamoContext, repository: RepositoryName): Promise<number> {
  const shards = await counterShards(ctx, "count manifests", repositoryPk(repository));
  return shards.reduce((sum, s) => sum + Number(s.manifests ?? 0), 0);
}

export async function repositoryExists(ctx: DynamoContext, repository: RepositoryName): Promise<boolean> {
  return (await ctx.io.get("find repository", repositoryKey(repository))) !== undefined;
}

/** The catalog partition, from `after` (exclusive; need not name a repository). */
export async function listRepositories(ctx: DynamoContext, page: PageRequest): Promise<Page> {
  const items = await ctx.io.query(
    "list repositories",
    {
      KeyConditionExpression: "PK = :pk",
      ExpressionAttributeValues: { ":pk": CATALOG_PK },
      ProjectionExpression: "SK",
      ConsistentRead: true,
      ...(page.after !== undefined ? { ExclusiveStartKey: catalogKey(page.after as RepositoryName) } : {}),
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

async function counterShards(ctx: DynamoContext, what: string, pk: string) {
  return ctx.io.query(what, {
    KeyConditionExpression: "PK = :pk AND begins_with(SK, :c)",
    ExpressionAttributeValues: { ":pk": pk, ":c": COUNTER_PREFIX },
    ConsistentRead: true,
  });
}

function shard(ctx: DynamoContext): number {
  return Math.floor(Math.random() * ctx.counterShards);
}

/** Fetched limit + 1 items: the extra one only says whether there is more. */
function toPage(items: string[], limit: number): Page {
  return items.length > limit ? { items: items.slice(0, limit), more: true } : { items, more: false };
}
