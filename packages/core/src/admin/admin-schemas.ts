import { z } from "zod";
import type { TenantId } from "../ports.ts";

// What the admin API accepts, once: every body is a strict object (unknown fields are refused, so
// a misspelt "repositores" never silently means "every repository").

/** A single repository-name component (oci/names.ts), so `<tenant>/<repo>` is always a valid name. */
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
export const MAX_TENANT_ID_LENGTH = 64;

/**
 * Refused as tenant ids: names of the registry's own endpoints and services, and "default", the
 * tenant that owns everything in single-tenant mode, so no tenant is confused with them in a URL,
 * a log line or a `docker login`.
 */
export const RESERVED_TENANT_IDS: ReadonlySet<string> = new Set([
  "admin", "api", "auth", "default", "login", "oauth", "registry", "root", "stratus", "system", "token", "v1", "v2", "www",
]);

/** Why `value` cannot be a tenant id, or undefined when it can. */
export function tenantIdProblem(value: string): string | undefined {
  if (value.length > MAX_TENANT_ID_LENGTH) return `a tenant id is at most ${MAX_TENANT_ID_LENGTH} characters`;
  if (!NAME_COMPONENT.test(value)) {
    return 'a tenant id is one repository-name component: lowercase letters and digits, joined by ".", "_", "__" or "-"';
  }
  if (RESERVED_TENANT_IDS.has(value)) return `"${value}" is reserved`;
  return undefined;
}

export function isTenantId(value: string): value is TenantId {
  return tenantIdProblem(value) === undefined;
}

const tenantId = z.string().superRefine((value, ctx) => {
  const problem = tenantIdProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
}).transform((value) => value as TenantId);

export const PLAN_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const MAX_PLAN_NAME_LENGTH = 64;
const planName = z.string().max(MAX_PLAN_NAME_LENGTH).regex(PLAN_NAME, 'a plan name is lowercase letters and digits, joined by ".", "_" or "-"');

export function isPlanName(value: string): boolean {
  return value.length <= MAX_PLAN_NAME_LENGTH && PLAN_NAME.test(value);
}

export const createTenantBody = z.strictObject({
  id: tenantId,
  plan: planName.optional(),
});

export const updateTenantBody = z.strictObject({
  plan: planName,
});

/** A limit: a non-negative integer, or null for unlimited. */
const limit = z.int().min(0).nullable();

export const putPlanBody = z.strictObject({
  limits: z.strictObject({
    repositories: limit,
    storedBytes: limit,
    manifestsPerRepository: limit,
    /** Left out: the default (DEFAULT_UPLOAD_SESSIONS), as for plans stored before this limit existed. */
    uploadSessions: limit.optional(),
  }),
});

export const ROLES = ["pull", "push", "delete", "admin"] as const;
export const MAX_KEY_PATTERNS = 20;
export const MAX_DESCRIPTION_LENGTH = 200;

export const createKeyBody = z.strictObject({
  role: z.enum(ROLES),
  /** Absent: every repository of the tenant. Patterns are checked by the service (they need the tenant). */
  repositories: z.array(z.string()).min(1, "give at least one pattern, or leave repositories out for all").max(MAX_KEY_PATTERNS).optional(),
  description: z
    .string()
    .max(MAX_DESCRIPTION_LENGTH)
    // Shown in listings and terminals: no control characters.
    .regex(/^[^\p{Cc}]*$/u, "no control characters")
    .optional(),
});

export const visibilityBody = z.strictObject({
  visibility: z.enum(["public", "private"]),
});

export type CreateTenantBody = z.infer<typeof createTenantBody>;
export type PutPlanBody = z.infer<typeof putPlanBody>;
export type CreateKeyBody = z.infer<typeof createKeyBody>;
