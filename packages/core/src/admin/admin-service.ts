import { generateApiKey } from "../auth/api-keys.ts";
import type { Principal } from "../auth/principal.ts";
import { newTenantGeneration, type TenantGenerations } from "../auth/tenant-generations.ts";
import { matchesRepositoryPatterns, parseRepositoryPattern, patternsWithin, RepositoryPatternError, type RepositoryPattern } from "../auth/repository-patterns.ts";
import { namespaceOf, type RepositoryName } from "../oci/names.ts";
import type { ApiKeyRecord, Clock, ManifestSummary, MetadataStore, PageRequest, Plan, Role, Tenant, TenantId, TenantLimits, TenantStore, Visibility } from "../ports.ts";
import { BUILT_IN_DEFAULT_PLAN, DEFAULT_PLAN_NAME, DEFAULT_UPLOAD_SESSIONS, planOf, UNLIMITED } from "../services/plans.ts";
import type { RepositoryService } from "../services/repositories.ts";
import { ADMIN_CHALLENGE, AdminError } from "./admin-errors.ts";
import { isTenantId } from "./admin-schemas.ts";

// Who may do what in the admin API, and the rules of tenants, plans, keys and repositories.
//
// - The operator (bootstrap credential) may do everything.
// - An API key with role "admin" may administer its own tenant only: its keys, usage, repositories
//   (their visibility and manifests, and deleting them), and read its tenant record and the plans. A key limited to
//   repository patterns sees only matching repositories and hands out only keys within its patterns.
// - Keys with role pull / push / delete: 403. Anonymous: 401 with a Basic challenge.
// - A key naming another tenant gets 403 DENIED, with one message whether that tenant exists or not.

/** What a route needs of its caller; the route table declares it, `authorize` checks it before any input is read. */
export type AdminAccess =
  | { kind: "operator" }
  /** The operator or any tenant's admin key (reading plans). */
  | { kind: "any-admin" }
  | { kind: "tenant"; tenant: string }
  /** Of the repository's tenant (its first path component), and within the key's patterns. */
  | { kind: "repository"; name: RepositoryName };

export interface AdminServiceDeps {
  tenants: TenantStore;
  metadata: MetadataStore;
  /** Deletes repositories with their content and bytes. */
  repositories: RepositoryService;
  clock: Clock;
  /** Forgets a tenant created or deleted here, so tokens of a deleted one stop at once on this instance. */
  generations?: TenantGenerations;
}

export interface PlanView {
  plan: Plan;
  /** The built-in default, not stored (DESIGN.md "Tenancy": OCIR's limits). */
  builtIn: boolean;
}

export interface UsageReport {
  tenant: TenantId;
  plan: string;
  repositories: { used: number; limit: number };
  storedBytes: { used: number; limit: number };
  manifestsPerRepository: { repository: string; manifests: number; limit: number }[];
  uploadSessions: { used: number; limit: number };
  /** Bytes staged by unfinished uploads: they count against storedBytes' limit beside the stored bytes. */
  stagedBytes: { used: number };
}

export interface RepositoryView {
  name: string;
  visibility: Visibility;
}

type KeyCaller = Extract<Principal, { kind: "key" }>;

const KEY_ID = /^[a-z2-7]{16}$/;
/** Repositories read per page while adding up usage, and manifest counts asked at once. */
const USAGE_PAGE = 1000;
const USAGE_CONCURRENCY = 8;

export class AdminService {
  constructor(private readonly deps: AdminServiceDeps) {}

  // ---- Authorization ----

  /** Throws UNAUTHORIZED (401) for anonymous callers and DENIED (403) for callers without the access. */
  authorize(caller: Principal, access: AdminAccess): void {
    if (caller.kind === "operator") return;
    if (caller.kind === "anonymous") {
      throw new AdminError("UNAUTHORIZED", "the admin API needs credentials: an admin API key (Basic) or the operator token (Bearer)", null, { ...ADMIN_CHALLENGE });
    }
    if (caller.role !== "admin") throw new AdminError("DENIED", `a key with role ${caller.role} cannot use the admin API; it needs role admin`);
    switch (access.kind) {
      case "operator":
        throw new AdminError("DENIED", "only the operator may do this");
      case "any-admin":
        return;
      case "tenant":
        if (access.tenant !== caller.tenant) throw deniedOtherTenant();
        return;
      case "repository":
        if (namespaceOf(access.name) !== caller.tenant) throw deniedOtherTenant();
        if (!canSee(caller, access.name)) throw new AdminError("DENIED", "this key is limited to other repositories");
        return;
    }
  }

  // ---- Tenants (operator) ----

  async createTenant(input: { id: TenantId; plan?: string | undefined }): Promise<Tenant> {
    const plan = input.plan ?? DEFAULT_PLAN_NAME;
    await this.requirePlan(plan);
    const tenant: Tenant = { id: input.id, plan, createdAt: this.deps.clock.now(), generation: newTenantGeneration() };
    if (!(await this.deps.tenants.createTenant(tenant))) {
      throw new AdminError("CONFLICT", `tenant ${input.id} exists already`, { tenant: input.id });
    }
    this.deps.generations?.forget(tenant.id);
    return tenant;
  }

  listTenants(page: PageRequest): Promise<{ items: Tenant[]; more: boolean }> {
    if (page.limit === 0) return Promise.resolve({ items: [], more: false });
    return this.deps.tenants.listTenants(page);
  }

  /** The tenant; NOT_FOUND for ids that are unknown or cannot be tenant ids. */
  async getTenant(id: string): Promise<Tenant> {
    const tenant = isTenantId(id) ? await this.deps.tenants.getTenant(id) : undefined;
    if (!tenant) throw new AdminError("NOT_FOUND", `no tenant ${shown(id)}`, { tenant: shown(id) });
    return tenant;
  }

  async setTenantPlan(id: string, plan: string): Promise<Tenant> {
    const tenant = await this.getTenant(id);
    await this.requirePlan(plan);
    if (!(await this.deps.tenants.setTenantPlan(tenant.id, plan))) throw new AdminError("NOT_FOUND", `no tenant ${tenant.id}`, { tenant: tenant.id });
    return { ...tenant, plan };
  }

  /**
   * Refused while the tenant holds content, so no repository or blob is left without an owner. Its
   * keys go with it, and tokens issued for it stop working (tenant-generations.ts has the bound).
   */
  async deleteTenant(id: string): Promise<void> {
    const tenant = await this.getTenant(id);
    const usage = await this.deps.metadata.tenantUsage(tenant.id);
    if (usage.repositories > 0 || usage.storedBytes > 0) {
      throw new AdminError(
        "CONFLICT",
        `tenant ${tenant.id} still has ${usage.repositories} repositories (${usage.storedBytes} bytes); delete them first`,
        { tenant: tenant.id, ...usage },
      );
    }
    await this.deps.tenants.deleteTenant(tenant.id);
    this.deps.generations?.forget(tenant.id);
  }

  // ---- Plans ----

  /** Stored plans, and the built-in default unless a stored plan overrides it, by name. */
  async listPlans(): Promise<PlanView[]> {
    const stored = await this.deps.tenants.listPlans();
    const views: PlanView[] = stored.map((plan) => ({ plan, builtIn: false }));
    if (!stored.some((p) => p.name === DEFAULT_PLAN_NAME)) views.push({ plan: BUILT_IN_DEFAULT_PLAN, builtIn: true });
    return views.sort((a, b) => (a.plan.name < b.plan.name ? -1 : a.plan.name > b.plan.name ? 1 : 0));
  }

  /** Creates or replaces a plan; tenants on it get the new limits at their next push. */
  async putPlan(
    name: string,
    limits: { [K in Exclude<keyof TenantLimits, "uploadSessions">]: number | null } & { uploadSessions?: number | null | undefined },
  ): Promise<{ plan: Plan; created: boolean }> {
    const created = (await this.deps.tenants.getPlan(name)) === undefined;
    const plan: Plan = {
      name,
      limits: {
        repositories: limits.repositories ?? UNLIMITED,
        storedBytes: limits.storedBytes ?? UNLIMITED,
        manifestsPerRepository: limits.manifestsPerRepository ?? UNLIMITED,
        uploadSessions: limits.uploadSessions === undefined ? DEFAULT_UPLOAD_SESSIONS : (limits.uploadSessions ?? UNLIMITED),
      },
    };
    await this.deps.tenants.putPlan(plan);
    return { plan, created };
  }

  private async requirePlan(name: string): Promise<void> {
    if (name === DEFAULT_PLAN_NAME || (await this.deps.tenants.getPlan(name))) return;
    throw new AdminError("INVALID_REQUEST", `no plan named ${name}; create it first (PUT /admin/v1/plans/${name})`, { plan: name });
  }

  // ---- API keys ----

  /** A new key: the record is stored with the secret's hash only; the key string is returned once. */
  async createKey(
    caller: Principal,
    tenantId: string,
    input: { role: Role; repositories?: string[] | undefined; description?: string | undefined },
  ): Promise<{ record: ApiKeyRecord; key: string }> {
    const tenant = await this.getTenant(tenantId);
    const patterns = input.repositories === undefined ? undefined : parseTenantPatterns(tenant.id, input.repositories);
    if (caller.kind === "key") {
      const own = ownPatterns(caller);
      if (own !== undefined && (patterns === undefined || !patternsWithin(patterns, own))) {
        throw new AdminError("DENIED", "this key is limited to repository patterns; a key it creates must be limited to patterns within them", {
          allowed: own.map((p) => p.source),
        });
      }
    }
    const generated = generateApiKey();
    const record: ApiKeyRecord = {
      id: generated.id,
      tenant: tenant.id,
      role: input.role,
      ...(patterns ? { repositories: patterns.map((p) => p.source) } : {}),
      secretHash: generated.secretHash,
      ...(input.description !== undefined ? { description: input.description } : {}),
      createdAt: this.deps.clock.now(),
    };
    await this.deps.tenants.createApiKey(record);
    return { record, key: generated.key };
  }

  async listKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    const tenant = await this.getTenant(tenantId);
    return this.deps.tenants.listApiKeys(tenant.id);
  }

  /** Revokes the key; revoking a revoked key again is a no-op. A pattern-limited key revokes only keys within its patterns. */
  async revokeKey(caller: Principal, tenantId: string, keyId: string): Promise<void> {
    const tenant = await this.getTenant(tenantId);
    const record = KEY_ID.test(keyId) ? await this.deps.tenants.getApiKey(keyId) : undefined;
    if (!record || record.tenant !== tenant.id) throw new AdminError("NOT_FOUND", `tenant ${tenant.id} has no key ${shown(keyId)}`, { key: shown(keyId) });
    if (caller.kind === "key") {
      const own = ownPatterns(caller);
      const target = record.repositories?.map(parseRepositoryPattern);
      if (own !== undefined && (target === undefined || !patternsWithin(target, own))) {
        throw new AdminError("DENIED", "this key is limited to repository patterns; it may revoke only keys within them");
      }
    }
    if (record.revokedAt !== undefined) return;
    await this.deps.tenants.revokeApiKey(tenant.id, record.id, this.deps.clock.now());
  }

  // ---- Usage and repositories ----

  async usage(caller: Principal, tenantId: string): Promise<UsageReport> {
    const tenant = await this.getTenant(tenantId);
    const [plan, totals, uploads] = await Promise.all([
      planOf(this.deps.tenants, tenant.id), this.deps.metadata.tenantUsage(tenant.id), this.deps.metadata.uploadUsage(tenant.id),
    ]);
    const names: string[] = [];
    let page = { items: [] as string[], more: true };
    while (page.more) {
      page = await this.deps.metadata.listRepositories({ limit: USAGE_PAGE, ...(names.length ? { after: names.at(-1)! } : {}) }, `${tenant.id}/`);
      if (page.items.length === 0) break;
      names.push(...page.items);
    }
    const visible = names.filter((name) => canSee(caller, name));
    const counts = await mapLimited(visible, USAGE_CONCURRENCY, (name) => this.deps.metadata.manifestCount(name as RepositoryName));
    return {
      tenant: tenant.id,
      plan: plan.name,
      repositories: { used: totals.repositories, limit: plan.limits.repositories },
      storedBytes: { used: totals.storedBytes, limit: plan.limits.storedBytes },
      manifestsPerRepository: visible.map((repository, i) => ({ repository, manifests: counts[i]!, limit: plan.limits.manifestsPerRepository })),
      uploadSessions: { used: uploads.sessions, limit: plan.limits.uploadSessions },
      stagedBytes: { used: uploads.stagedBytes },
    };
  }

  /** The tenant's repositories (those the caller's patterns allow), with their visibility. */
  async listRepositories(caller: Principal, tenantId: string, page: PageRequest): Promise<{ items: RepositoryView[]; more: boolean; last?: string }> {
    const tenant = await this.getTenant(tenantId);
    if (page.limit === 0) return { items: [], more: false };
    const result = await this.deps.metadata.listRepositories(page, `${tenant.id}/`);
    const names = result.items.filter((name) => canSee(caller, name));
    const visibilities = await mapLimited(names, USAGE_CONCURRENCY, (name) => this.deps.tenants.getVisibility(name as RepositoryName));
    // `more` and the next page's `last` follow the store's page, filtered or not.
    return { items: names.map((name, i) => ({ name, visibility: visibilities[i]! })), more: result.more, ...lastOf(result.items) };
  }

  async setVisibility(name: RepositoryName, visibility: Visibility): Promise<RepositoryView> {
    await this.requireRepository(name);
    await this.deps.tenants.setVisibility(namespaceOf(name) as TenantId, name, visibility);
    return { name, visibility };
  }

  /** Deletes the repository with every image in it (like ECR's DeleteRepository with force); its room goes back to the tenant. */
  async deleteRepository(name: RepositoryName): Promise<void> {
    if (!(await this.deps.repositories.delete(name))) throw new AdminError("NOT_FOUND", `no repository ${name}`, { repository: name });
  }

  async listManifests(name: RepositoryName, page: PageRequest): Promise<{ items: ManifestSummary[]; more: boolean }> {
    await this.requireRepository(name);
    if (page.limit === 0) return { items: [], more: false };
    return this.deps.metadata.listManifests(name, page);
  }

  private async requireRepository(name: RepositoryName): Promise<void> {
    if (!(await this.deps.metadata.repositoryExists(name))) {
      throw new AdminError("NOT_FOUND", `no repository ${name}`, { repository: name });
    }
  }
}

function deniedOtherTenant(): AdminError {
  // Same answer whether the other tenant exists or not: a key learns nothing about other tenants.
  return new AdminError("DENIED", "this key may administer only its own tenant");
}

/** The caller's patterns, parsed; undefined when it is not limited. */
function ownPatterns(caller: KeyCaller): RepositoryPattern[] | undefined {
  if (caller.repositories === undefined) return undefined;
  // A stored pattern that no longer parses matches nothing: it can only narrow.
  return caller.repositories.flatMap((p) => {
    try {
      return [parseRepositoryPattern(p)];
    } catch {
      return [];
    }
  });
}

function canSee(caller: Principal, name: string): boolean {
  return caller.kind !== "key" || caller.repositories === undefined || matchesRepositoryPatterns(name, caller.repositories);
}

/** Patterns of a key of `tenant`: each a valid pattern whose first component is the tenant itself, duplicates dropped. */
function parseTenantPatterns(tenant: TenantId, values: string[]): RepositoryPattern[] {
  const patterns = new Map<string, RepositoryPattern>();
  for (const value of values) {
    let pattern: RepositoryPattern;
    try {
      pattern = parseRepositoryPattern(value);
    } catch (e) {
      if (e instanceof RepositoryPatternError) throw new AdminError("INVALID_REQUEST", e.message, { pattern: shown(value) });
      throw e;
    }
    if (pattern.components[0] !== tenant || pattern.components.length < 2) {
      throw new AdminError("INVALID_REQUEST", `repository pattern ${shown(value)} must start with "${tenant}/", the tenant's namespace`, {
        pattern: shown(value),
      });
    }
    patterns.set(pattern.source, pattern);
  }
  return [...patterns.values()];
}

function lastOf(items: string[]): { last?: string } {
  const last = items.at(-1);
  return last === undefined ? {} : { last };
}

function shown(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}

async function mapLimited<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
