import type { RepositoryName, TenantId } from "@stratus/core";
import type { Key } from "./dynamo-keys.ts";

// The TenantStore's items, in the metadata store's single table (docs/dynamodb.md, "Tenants, keys and
// visibility"). Partition keys of their own, none of which the metadata store uses (it has "R#...",
// "T#...", "CATALOG", "U#..."; the idle GSI's "IDLE#n" are index keys, never table keys):
//
//   PK "TENANTS"         SK "<tenant>"              tenant record (plan, createdAt), lexically ordered
//   PK "PLANS"           SK "<plan name>"           plan (limits), ordered by name
//   PK "K#<key id>"      SK "K"                     API key record: getApiKey is one GetItem
//   PK "PUBLIC"          SK "<repository>"          a public repository (owner tenant): present only while public
//   PK "TN#<tenant>"     SK "K#<key id>"            the tenant's key, for listApiKeys and deleteTenant
//                        SK "V#<repository>"        the tenant's public repository, for deleteTenant
//
// "TN#" is not "T#" (the metadata store's tenant partition): the second character differs, so
// neither prefix is a prefix of the other's values. Tenants, repository names and key ids never
// contain "#". Plan names may; they are only ever a sort key of the PLANS partition.

export const TENANTS_PK = "TENANTS";
export const PLANS_PK = "PLANS";
export const PUBLIC_PK = "PUBLIC";
export const API_KEY_SK = "K";
export const OWNED_KEY_PREFIX = "K#";
export const OWNED_PUBLIC_PREFIX = "V#";

export const tenantKey = (tenant: TenantId | string): Key => ({ PK: TENANTS_PK, SK: tenant });
export const planKey = (name: string): Key => ({ PK: PLANS_PK, SK: name });
export const apiKeyKey = (id: string): Key => ({ PK: `K#${id}`, SK: API_KEY_SK });
export const publicKey = (repository: RepositoryName | string): Key => ({ PK: PUBLIC_PK, SK: repository });

/** The partition of everything a tenant owns in the tenant store (deleteTenant queries it). */
export const ownedPk = (tenant: TenantId): string => `TN#${tenant}`;
export const ownedApiKeyKey = (tenant: TenantId, id: string): Key => ({ PK: ownedPk(tenant), SK: `${OWNED_KEY_PREFIX}${id}` });
export const ownedPublicKey = (tenant: TenantId, repository: RepositoryName | string): Key => ({
  PK: ownedPk(tenant),
  SK: `${OWNED_PUBLIC_PREFIX}${repository}`,
});
