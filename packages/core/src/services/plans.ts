import type { Plan, TenantId, TenantLimits, TenantStore } from "../ports.ts";

// Plans set each tenant's limits. The built-in "default" plan has OCIR's limits (DESIGN.md
// "Tenancy"); operators store others (or override "default") through the admin API: configuration,
// not code. A stored plan named "default" replaces the built-in one.

export const DEFAULT_PLAN_NAME = "default";
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/**
 * Open upload sessions per tenant when a plan does not say (plans stored before the limit existed, or
 * created without it). A push opens one session per layer, a few at a time; a thousand leaves room
 * for many CI jobs pushing at once, and bounds what one leaked key can hold open (each session is a
 * staging file or S3 multipart upload until it is finished or swept).
 */
export const DEFAULT_UPLOAD_SESSIONS = 1000;

export const BUILT_IN_DEFAULT_PLAN: Plan = {
  name: DEFAULT_PLAN_NAME,
  limits: { repositories: 500, storedBytes: 500 * 1000 ** 3, manifestsPerRepository: 100_000, uploadSessions: DEFAULT_UPLOAD_SESSIONS },
};

/** The limits that apply to a tenant's pushes; undefined when nothing is limited (single-tenant mode). */
export type LimitsOf = (tenant: TenantId) => Promise<TenantLimits | undefined>;

export const noLimits: LimitsOf = async () => undefined;

/** A tenant's plan, falling back to the default plan for unknown tenants or plans. */
export async function planOf(tenants: TenantStore, tenant: TenantId): Promise<Plan> {
  const record = await tenants.getTenant(tenant);
  const name = record?.plan ?? DEFAULT_PLAN_NAME;
  return (await tenants.getPlan(name)) ?? (name !== DEFAULT_PLAN_NAME ? await tenants.getPlan(DEFAULT_PLAN_NAME) : undefined) ?? BUILT_IN_DEFAULT_PLAN;
}

export function limitsFromPlans(tenants: TenantStore): LimitsOf {
  return async (tenant) => (await planOf(tenants, tenant)).limits;
}
