import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DEFAULT_UPLOAD_SESSIONS, StorageUnavailableError } from "@stratus/core";
import type {
  ApiKeyRecord, Page, PageRequest, Plan, RepositoryName, Role, Tenant, TenantId, TenantStore, Visibility,
} from "@stratus/core";
import { Contention, DEFAULT_RETRY, DynamoIo, type Item, type RetryPolicy, type TransactItem } from "./dynamo-io.ts";
import type { Key } from "./dynamo-keys.ts";
import {
  OWNED_KEY_PREFIX, OWNED_PUBLIC_PREFIX, PLANS_PK, PUBLIC_PK, TENANTS_PK, apiKeyKey, ownedApiKeyKey, ownedPk, ownedPublicKey,
  planKey, publicKey, tenantKey,
} from "./dynamo-tenant-keys.ts";

// The TenantStore port in the metadata store's single table (key scheme in dynamo-tenant-keys.ts;
// docs/dynamodb.md "Tenants, keys and visibility" has every call and its cost). The hot paths are
// one request each: getApiKey (every Basic-authenticated request) and getVisibility (anonymous
// pulls) one GetItem, recordKeyUse one UpdateItem, revokeApiKey one conditional UpdateItem.
//
// A key's record lives once, under its id; the tenant's partition holds only a pointer to it, so
// nothing has to keep two copies of lastUsedAt or revokedAt in step. The price is paid by the rare
// listApiKeys: a Query of the pointers, then a BatchGetItem of the records.

export interface DynamoTenantStoreOptions {
  /** The metadata store's client will do; configure SDK retries (maxAttempts) on it. */
  client: DynamoDBClient;
  /** The metadata store's table. */
  tableName: string;
  /** Read-then-write attempts under contention before a 503. */
  retry?: Partial<RetryPolicy>;
}

const NOT_EXISTS = "attribute_not_exists(PK)";
const EXISTS = "attribute_exists(PK)";
/** A sweep of a deleted tenant's partition that keeps finding new items gives up after this many rounds. */
const MAX_SWEEP_ROUNDS = 10;
/** Each owned item is deleted with its counterpart: 50 pairs fill a 100-item transaction. */
const PAIRS_PER_TRANSACTION = 50;

export class DynamoTenantStore implements TenantStore {
  private readonly io: DynamoIo;
  private readonly table: string;

  constructor(options: DynamoTenantStoreOptions) {
    const doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.io = new DynamoIo(doc, options.tableName, { ...DEFAULT_RETRY, ...options.retry });
    this.table = options.tableName;
  }

  // ---- tenants

  async createTenant(tenant: Tenant): Promise<boolean> {
    return this.io.put("create tenant", {
      Item: { ...tenantKey(tenant.id), plan: tenant.plan, createdAt: tenant.createdAt, generation: tenant.generation },
      ConditionExpression: NOT_EXISTS,
    });
  }

  async getTenant(id: TenantId): Promise<Tenant | undefined> {
    return toTenant(await this.io.get("get tenant", tenantKey(id)));
  }

  async setTenantPlan(id: TenantId, plan: string): Promise<boolean> {
    return this.io.update("set plan", {
      Key: tenantKey(id),
      UpdateExpression: "SET #plan = :plan",
      ConditionExpression: EXISTS,
      ExpressionAttributeNames: { "#plan": "plan" },
      ExpressionAttributeValues: { ":plan": plan },
    });
  }

  /**
   * Sweeps the tenant's keys and public repositories (so its keys stop working first), deletes the
   * tenant record, then sweeps again for anything created for it in the meantime. A re-run after a
   * failure part way finishes the job (and answers false: the record is gone).
   */
  async deleteTenant(id: TenantId): Promise<boolean> {
    await this.sweepOwned(id);
    const existed = await this.io.delete("delete tenant", { Key: tenantKey(id), ConditionExpression: EXISTS });
    await this.sweepOwned(id);
    return existed;
  }

  async listTenants(page: PageRequest): Promise<{ items: Tenant[]; more: boolean }> {
    const items = await this.io.query(
      "list tenants",
      {
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": TENANTS_PK },
        ConsistentRead: true,
        ...(page.after !== undefined ? { ExclusiveStartKey: tenantKey(page.after) } : {}),
      },
      page.limit + 1,
    );
    return toPage(items.map((item) => toTenant(item)!), page.limit);
  }

  // ---- plans

  async putPlan(plan: Plan): Promise<void> {
    const { repositories, storedBytes, manifestsPerRepository, uploadSessions } = plan.limits;
    await this.io.put("put plan", { Item: { ...planKey(plan.name), limits: { repositories, storedBytes, manifestsPerRepository, uploadSessions } } });
  }

  async getPlan(name: string): Promise<Plan | undefined> {
    return toPlan(await this.io.get("get plan", planKey(name)));
  }

  async listPlans(): Promise<Plan[]> {
    const items = await this.io.query("list plans", {
      KeyConditionExpression: "PK = :pk",
      ExpressionAttributeValues: { ":pk": PLANS_PK },
      ConsistentRead: true,
    });
    return items.map((item) => toPlan(item)!);
  }

  // ---- API keys

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    const record: Item = {
      ...apiKeyKey(key.id),
      id: key.id,
      tenant: key.tenant,
      role: key.role,
      repositories: key.repositories,
      secretHash: key.secretHash,
      description: key.description,
      createdAt: key.createdAt,
      lastUsedAt: key.lastUsedAt,
      revokedAt: key.revokedAt,
    };
    await this.io.retrying("create key", async () => {
      try {
        await this.io.transact("create key", [
          { Put: { TableName: this.table, Item: record, ConditionExpression: NOT_EXISTS } },
          { Put: { TableName: this.table, Item: { ...ownedApiKeyKey(key.tenant, key.id), createdAt: key.createdAt } } },
        ]);
      } catch (error) {
        // Ids are random: a clash is a bug of the caller, never a reason to overwrite another key.
        if (error instanceof Contention && error.reason === "condition") throw new Error(`an API key with id ${key.id} exists already`);
        throw error;
      }
    });
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return toApiKey(await this.io.get("get key", apiKeyKey(id)));
  }

  async listApiKeys(tenant: TenantId): Promise<ApiKeyRecord[]> {
    const pointers = await this.io.query("list keys", {
      KeyConditionExpression: "PK = :pk AND begins_with(SK, :keys)",
      ExpressionAttributeValues: { ":pk": ownedPk(tenant), ":keys": OWNED_KEY_PREFIX },
      ProjectionExpression: "SK",
      ConsistentRead: true,
    });
    if (pointers.length === 0) return [];
    const records = await this.io.getMany("list keys", pointers.map((p) => apiKeyKey(p.SK.slice(OWNED_KEY_PREFIX.length))));
    return records
      .map(toApiKey)
      .filter((key): key is ApiKeyRecord => key !== undefined && key.tenant === tenant)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async revokeApiKey(tenant: TenantId, id: string, at: number): Promise<boolean> {
    return this.io.update("revoke key", {
      Key: apiKeyKey(id),
      UpdateExpression: "SET #revokedAt = :at",
      ConditionExpression: `${EXISTS} AND #tenant = :tenant AND attribute_not_exists(#revokedAt)`,
      ExpressionAttributeNames: { "#revokedAt": "revokedAt", "#tenant": "tenant" },
      ExpressionAttributeValues: { ":at": at, ":tenant": tenant },
    });
  }

  async recordKeyUse(id: string, at: number): Promise<void> {
    // Conditional: never creates an item for an unknown id, and a use reported late (another
    // Lambda's) never moves the time back. A failed condition costs 1 WCU, like the write.
    await this.io.update("record key use", {
      Key: apiKeyKey(id),
      UpdateExpression: "SET #lastUsedAt = :at",
      ConditionExpression: `${EXISTS} AND (attribute_not_exists(#lastUsedAt) OR #lastUsedAt < :at)`,
      ExpressionAttributeNames: { "#lastUsedAt": "lastUsedAt" },
      ExpressionAttributeValues: { ":at": at },
    });
  }

  // ---- visibility

  async setVisibility(tenant: TenantId, repository: RepositoryName, visibility: Visibility): Promise<void> {
    // Read the current owner, then write under the condition that it is still the owner read.
    await this.io.retrying("set visibility", async () => {
      const current = await this.io.get("set visibility", publicKey(repository));
      const owner = current?.tenant as TenantId | undefined;
      const stillOwner =
        owner === undefined
          ? { ConditionExpression: NOT_EXISTS }
          : { ConditionExpression: "#tenant = :owner", ExpressionAttributeNames: { "#tenant": "tenant" }, ExpressionAttributeValues: { ":owner": owner } };
      if (visibility === "public") {
        if (owner === tenant) return;
        const items: TransactItem[] = [
          { Put: { TableName: this.table, Item: { ...publicKey(repository), tenant }, ...stillOwner } },
          { Put: { TableName: this.table, Item: ownedPublicKey(tenant, repository) } },
        ];
        // Made public by another tenant before (core decides who may): the pointer moves with it.
        if (owner !== undefined) items.push({ Delete: { TableName: this.table, Key: ownedPublicKey(owner, repository) } });
        await this.io.transact("set visibility", items);
      } else {
        if (owner === undefined) return;
        await this.io.transact("set visibility", [
          { Delete: { TableName: this.table, Key: publicKey(repository), ...stillOwner } },
          { Delete: { TableName: this.table, Key: ownedPublicKey(owner, repository) } },
        ]);
      }
    });
  }

  async getVisibility(repository: RepositoryName): Promise<Visibility> {
    return (await this.io.get("get visibility", publicKey(repository))) === undefined ? "private" : "public";
  }

  async listPublicRepositories(page: PageRequest): Promise<Page> {
    const items = await this.io.query(
      "list public repositories",
      {
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": PUBLIC_PK },
        ProjectionExpression: "SK",
        ConsistentRead: true,
        ...(page.after !== undefined ? { ExclusiveStartKey: publicKey(page.after) } : {}),
      },
      page.limit + 1,
    );
    return toPage(items.map((item) => item.SK), page.limit);
  }

  /**
   * Deletes every item of the tenant's partition with its counterpart (key record, public entry),
   * in transactions of up to 100 items, until a Query finds the partition empty. A public entry is
   * deleted only if the tenant still owns it; when a racing setVisibility moved it, the sweep reads again.
   */
  private async sweepOwned(tenant: TenantId): Promise<void> {
    await this.io.retrying("delete tenant", async () => {
      for (let round = 1; ; round++) {
        const owned = await this.io.query("delete tenant", {
          KeyConditionExpression: "PK = :pk",
          ExpressionAttributeValues: { ":pk": ownedPk(tenant) },
          ProjectionExpression: "PK, SK",
          ConsistentRead: true,
        });
        if (owned.length === 0) return;
        if (round > MAX_SWEEP_ROUNDS) throw new StorageUnavailableError(`delete tenant: items of ${tenant} still appearing after ${MAX_SWEEP_ROUNDS} sweeps`);
        const pairs = owned.map((item) => this.deletePair(tenant, { PK: item.PK, SK: item.SK }));
        for (let start = 0; start < pairs.length; start += PAIRS_PER_TRANSACTION) {
          await this.io.transact("delete tenant", pairs.slice(start, start + PAIRS_PER_TRANSACTION).flat());
        }
      }
    });
  }

  private deletePair(tenant: TenantId, owned: Key): TransactItem[] {
    const own: TransactItem = { Delete: { TableName: this.table, Key: owned } };
    if (owned.SK.startsWith(OWNED_KEY_PREFIX)) {
      return [own, { Delete: { TableName: this.table, Key: apiKeyKey(owned.SK.slice(OWNED_KEY_PREFIX.length)) } }];
    }
    if (owned.SK.startsWith(OWNED_PUBLIC_PREFIX)) {
      return [
        own,
        {
          Delete: {
            TableName: this.table,
            Key: publicKey(owned.SK.slice(OWNED_PUBLIC_PREFIX.length)),
            ConditionExpression: `attribute_not_exists(PK) OR #tenant = :tenant`,
            ExpressionAttributeNames: { "#tenant": "tenant" },
            ExpressionAttributeValues: { ":tenant": tenant },
          },
        },
      ];
    }
    return [own];
  }
}

function toTenant(item: Item | undefined): Tenant | undefined {
  if (!item) return undefined;
  const createdAt = Number(item.createdAt);
  // Tenants created before generations existed have none stored (DynamoDB has no migration to give
  // them one). Any fixed value serves: a tenant deleted and created again gets a random generation
  // (16 characters, never this longer form), so tokens of the old one still stop working.
  const generation = item.generation === undefined ? `created-${createdAt}` : String(item.generation);
  return { id: item.SK as TenantId, plan: String(item.plan), createdAt, generation };
}

function toPlan(item: Item | undefined): Plan | undefined {
  if (!item) return undefined;
  const limits = item.limits as Record<string, unknown>;
  return {
    name: item.SK,
    limits: {
      repositories: Number(limits.repositories),
      storedBytes: Number(limits.storedBytes),
      manifestsPerRepository: Number(limits.manifestsPerRepository),
      // Plans stored before this limit existed have none: they get the default.
      uploadSessions: limits.uploadSessions === undefined ? DEFAULT_UPLOAD_SESSIONS : Number(limits.uploadSessions),
    },
  };
}

function toApiKey(item: Item | undefined): ApiKeyRecord | undefined {
  if (!item) return undefined;
  const key: ApiKeyRecord = {
    id: String(item.id),
    tenant: item.tenant as TenantId,
    role: item.role as Role,
    secretHash: String(item.secretHash),
    createdAt: Number(item.createdAt),
  };
  if (item.repositories !== undefined) key.repositories = [...(item.repositories as string[])];
  if (item.description !== undefined) key.description = String(item.description);
  if (item.lastUsedAt !== undefined) key.lastUsedAt = Number(item.lastUsedAt);
  if (item.revokedAt !== undefined) key.revokedAt = Number(item.revokedAt);
  return key;
}

/** Fetched limit + 1 items: the extra one only says whether there is more. */
function toPage<T>(items: T[], limit: number): { items: T[]; more: boolean } {
  return items.length > limit ? { items: items.slice(0, limit), more: true } : { items, more: false };
}
