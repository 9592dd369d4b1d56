import type { Digest, RepositoryName, Tag, TenantId, UploadId } from "@stratus/core";

// The single-table key schema (docs/dynamodb.md has the picture and every access pattern).
// Every item has a partition key PK and a sort key SK, both strings; prefixes keep kinds apart:
//
//   PK "R#<repository>"  SK "R"                     repository marker (owner tenant, manifest count)
//                        SK "M#<digest>"            manifest (bytes inline or an overflow key, tag set)
//                        SK "T#<tag>"               tag, with a copy of its manifest (GET by tag = one read)
//                        SK "L#<digest>"            blob link, with the blob's size and location (HEAD = one read)
//                        SK "S#<subject>#<digest>"  referrer of <subject>
//   PK "T#<tenant>"      SK "B#<digest>"            the tenant's blob, with its link count
//                        SK "U"                     the tenant's usage (repositories, storedBytes)
//   PK "CATALOG"         SK "<repository>"          catalog entry, lexically ordered
//   PK "U#<upload id>"   SK "U"                     upload session (TTL); GSI "idle" lists idle ones
//
// Repository names, tags, tenants and digests never contain "#", so a prefix never runs into a value.

export interface Key {
  PK: string;
  SK: string;
  [attribute: string]: unknown;
}

export const CATALOG_PK = "CATALOG";
export const REPOSITORY_SK = "R";
export const UPLOAD_SK = "U";
export const USAGE_SK = "U";
export const TAG_PREFIX = "T#";
export const MANIFEST_PREFIX = "M#";
export const REFERRER_PREFIX = "S#";

export const repositoryPk = (repository: RepositoryName): string => `R#${repository}`;
export const tenantPk = (tenant: TenantId): string => `T#${tenant}`;

export const repositoryKey = (repository: RepositoryName): Key => ({ PK: repositoryPk(repository), SK: REPOSITORY_SK });
export const catalogKey = (repository: RepositoryName): Key => ({ PK: CATALOG_PK, SK: repository });
export const manifestKey = (repository: RepositoryName, digest: Digest | string): Key => ({ PK: repositoryPk(repository), SK: `${MANIFEST_PREFIX}${digest}` });
export const tagKey = (repository: RepositoryName, tag: Tag | string): Key => ({ PK: repositoryPk(repository), SK: `${TAG_PREFIX}${tag}` });
export const linkKey = (repository: RepositoryName, digest: Digest): Key => ({ PK: repositoryPk(repository), SK: `L#${digest}` });
export const referrerPrefix = (subject: Digest): string => `${REFERRER_PREFIX}${subject}#`;
export const referrerKey = (repository: RepositoryName, subject: Digest, digest: Digest): Key => ({
  PK: repositoryPk(repository),
  SK: `${referrerPrefix(subject)}${digest}`,
});
export const blobKey = (tenant: TenantId, digest: Digest): Key => ({ PK: tenantPk(tenant), SK: `B#${digest}` });
export const usageKey = (tenant: TenantId): Key => ({ PK: tenantPk(tenant), SK: USAGE_SK });
export const uploadKey = (id: UploadId): Key => ({ PK: `U#${id}`, SK: UPLOAD_SK });

/**
 * Idle-upload index keys. The GSI partition is one of IDLE_SHARDS constants (a single constant
 * partition caps session writes at one GSI partition's ~1,000 WCU/s); the sort key orders by
 * updatedAt, then id, like the SQLite index. Changing IDLE_SHARDS strands sessions in dropped shards.
 */
export const IDLE_SHARDS = 4;
export const idlePk = (shard: number): string => `IDLE#${shard}`;
export function idleShardOf(id: UploadId): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return hash % IDLE_SHARDS;
}
/** Fixed width, so string order is numeric order for any epoch-ms time until the year 33658. */
export const idleSortKey = (updatedAt: number, id?: UploadId): string =>
  `${String(Math.max(0, Math.floor(updatedAt))).padStart(15, "0")}${id === undefined ? "" : `#${id}`}`;

/** The key attributes of an item (for a Delete or ConditionCheck built from an item read earlier). */
export const keyOf = (item: Key): Key => ({ PK: item.PK, SK: item.SK });
