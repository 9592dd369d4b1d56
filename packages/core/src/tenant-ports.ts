import type { RepositoryName } from "./oci/names.ts";
import type { Page, PageRequest, TenantId, TenantLimits } from "./ports.ts";

// Tenants, plans, API keys and repository visibility (DESIGN.md "Tenancy" and "Auth"): the TenantStore
// port, run on both stores by test/contracts/tenant-store.contract.ts; and what the storage remembers
// of the deployment serving it (DeploymentStore).

/** Cumulative: each role may do what the ones before it may. admin adds the tenant's admin API. */
export type Role = "pull" | "push" | "delete" | "admin";

export interface Plan {
  name: string;
  limits: TenantLimits;
}

export interface Tenant {
  /** The namespace: the first component of the tenant's repository names. */
  id: TenantId;
  /** Name of a plan; the built-in "default" plan exists without being stored. */
  plan: string;
  createdAt: number;
  /**
   * Random, set when the tenant is created and never changed: a tenant deleted and created again
   * under the same id has another one. Tokens name it, so nothing issued for the deleted tenant
   * works for the new one (auth/tenant-generations.ts).
   */
  generation: string;
}

export interface ApiKeyRecord {
  /** Public identifier, part of the key string; never secret. */
  id: string;
  tenant: TenantId;
  role: Role;
  /** Repository name patterns the key is limited to ("acme/web/*"); absent means all the tenant's. */
  repositories?: string[];
  /** SHA-256 (hex) of the key's secret part; the secret itself is never stored. */
  secretHash: string;
  description?: string;
  createdAt: number;
  lastUsedAt?: number;
  revokedAt?: number;
}

export type Visibility = "public" | "private";

export interface TenantStore {
  /** false when a tenant with that id exists already. */
  createTenant(tenant: Tenant): Promise<boolean>;
  getTenant(id: TenantId): Promise<Tenant | undefined>;
  /** false when there is no such tenant. */
  setTenantPlan(id: TenantId, plan: string): Promise<boolean>;
  /** Removes the tenant, its keys and its visibility records; false when there was none. */
  deleteTenant(id: TenantId): Promise<boolean>;
  /** Tenants ordered by id; `after` is an id. */
  listTenants(page: PageRequest): Promise<{ items: Tenant[]; more: boolean }>;

  /** Creates or replaces the plan. */
  putPlan(plan: Plan): Promise<void>;
  getPlan(name: string): Promise<Plan | undefined>;
  /** Every stored plan, ordered by name. */
  listPlans(): Promise<Plan[]>;

  /** Stores a new key; its id is unique (random). */
  createApiKey(key: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** The tenant's keys, revoked ones included, ordered by createdAt. */
  listApiKeys(tenant: TenantId): Promise<ApiKeyRecord[]>;
  /** Marks the tenant's key revoked at `at`; false when the tenant has no such key or it is revoked already. */
  revokeApiKey(tenant: TenantId, id: string, at: number): Promise<boolean>;
  /** Records that the key was used at `at` (callers throttle this). */
  recordKeyUse(id: string, at: number): Promise<void>;

  setVisibility(tenant: TenantId, repository: RepositoryName, visibility: Visibility): Promise<void>;
  /** "private" unless made public. */
  getVisibility(repository: RepositoryName): Promise<Visibility>;
  /** Public repositories of every tenant, in lexical order. */
  listPublicRepositories(page: PageRequest): Promise<Page>;
}

/** How a registry's storage is served: open (single-tenant, no authentication) or multi-tenant. */
export type TenancyMode = "open" | "multi-tenant";

/**
 * What the storage remembers of the deployment serving it: the tenancy mode it was first started
 * in, so that no later start serves it in a mode that would expose or misattribute what it holds
 * (services/tenancy-mode.ts decides). Read once per start, not per request.
 */
export interface DeploymentStore {
  /** The recorded mode; undefined when none is (new storage, or storage written before modes were recorded). */
  getTenancyMode(): Promise<TenancyMode | undefined>;
  /** Records `mode` if the recorded one is still `expected` (undefined: none); false when another start changed it first. */
  setTenancyMode(mode: TenancyMode, expected: TenancyMode | undefined): Promise<boolean>;
}
