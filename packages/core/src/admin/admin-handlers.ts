import type { z } from "zod";
import type { Principal } from "../auth/principal.ts";
import { isRegistryError } from "../errors.ts";
import { readBodyLimited } from "../http/body.ts";
import { nextLink, parsePageRequest } from "../http/pagination.ts";
import { emptyResponse, jsonResponse } from "../http/responses.ts";
import type { RouteInput } from "../http/router.ts";
import type { ApiKeyRecord, ManifestSummary, PageRequest, Tenant } from "../ports.ts";
import { UNLIMITED } from "../services/plans.ts";
import { AdminError } from "./admin-errors.ts";
import { createKeyBody, createTenantBody, isPlanName, putPlanBody, updateTenantBody, visibilityBody } from "./admin-schemas.ts";
import type { AdminService, PlanView, UsageReport } from "./admin-service.ts";

// HTTP of the admin API: each handler parses its inputs, calls one service method and renders the
// result as JSON. Authorization already happened (admin-api.ts checks each route's access first).

export interface AdminRouteInput extends RouteInput {
  caller: Principal;
}
export type AdminHandler = (input: AdminRouteInput) => Promise<Response>;

/** Admin bodies are small JSON documents; 64 KiB leaves room for 20 patterns and a description many times over. */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;
// Admin answers describe credentials and tenants: no cache keeps them.
const NO_STORE = { "cache-control": "no-store" } as const;

export function adminHandlers(service: AdminService, options: { maxPageSize: number }) {
  const page = (url: URL) => parsePage(url, options.maxPageSize);

  return {
    // ---- Tenants ----
    async createTenant({ request }: AdminRouteInput) {
      const body = await readJson(request, createTenantBody);
      const tenant = await service.createTenant(body);
      return json(201, tenantView(tenant), { location: `/admin/v1/tenants/${tenant.id}` });
    },
    async listTenants({ url }: AdminRouteInput) {
      const request = page(url);
      const result = await service.listTenants(request);
      const link = nextLink("/admin/v1/tenants", { items: result.items.map((t) => t.id), more: result.more }, request.limit);
      return json(200, { tenants: result.items.map(tenantView) }, link);
    },
    async getTenant({ params }: AdminRouteInput) {
      return json(200, tenantView(await service.getTenant(params.tenant!)));
    },
    async updateTenant({ request, params }: AdminRouteInput) {
      const body = await readJson(request, updateTenantBody);
      return json(200, tenantView(await service.setTenantPlan(params.tenant!, body.plan)));
    },
    async deleteTenant({ params }: AdminRouteInput) {
      await service.deleteTenant(params.tenant!);
      return emptyResponse(204, NO_STORE);
    },

    // ---- Plans ----
    async listPlans() {
      return json(200, { plans: (await service.listPlans()).map(planView) });
    },
    async putPlan({ request, params }: AdminRouteInput) {
      const name = params.plan!;
      if (!isPlanName(name)) {
        throw new AdminError("INVALID_REQUEST", 'a plan name is at most 64 lowercase letters and digits, joined by ".", "_" or "-"', { plan: name.slice(0, 80) });
      }
      const body = await readJson(request, putPlanBody);
      const { plan, created } = await service.putPlan(name, body.limits);
      return json(created ? 201 : 200, planView({ plan, builtIn: false }));
    },

    // ---- API keys ----
    async createKey({ request, params, caller }: AdminRouteInput) {
      const body = await readJson(request, createKeyBody);
      const { record, key } = await service.createKey(caller, params.tenant!, body);
      // The only time the key string leaves the registry.
      return json(201, { ...keyView(record), key, username: record.tenant }, { location: `/admin/v1/tenants/${record.tenant}/keys/${record.id}` });
    },
    async listKeys({ params }: AdminRouteInput) {
      return json(200, { keys: (await service.listKeys(params.tenant!)).map(keyView) });
    },
    async revokeKey({ params, caller }: AdminRouteInput) {
      await service.revokeKey(caller, params.tenant!, params.key!);
      return emptyResponse(204, NO_STORE);
    },

    // ---- Usage and repositories ----
    async usage({ params, caller }: AdminRouteInput) {
      return json(200, usageView(await service.usage(caller, params.tenant!)));
    },
    async listRepositories({ url, params, caller }: AdminRouteInput) {
      const request = page(url);
      const tenant = params.tenant!;
      const result = await service.listRepositories(caller, tenant, request);
      const link = nextLink(`/admin/v1/tenants/${tenant}/repositories`, { items: result.last ? [result.last] : [], more: result.more }, request.limit);
      return json(200, { repositories: result.items }, link);
    },
    async deleteRepository({ params }: AdminRouteInput) {
      await service.deleteRepository(params.name!);
      return emptyResponse(204, NO_STORE);
    },
    async setVisibility({ request, params }: AdminRouteInput) {
      const body = await readJson(request, visibilityBody);
      return json(200, await service.setVisibility(params.name!, body.visibility));
    },
    async listManifests({ url, params }: AdminRouteInput) {
      const request = page(url);
      const name = params.name!;
      const result = await service.listManifests(name, request);
      const link = nextLink(`/admin/v1/repositories/${name}/manifests`, { items: result.items.map((m) => m.digest), more: result.more }, request.limit);
      return json(200, { repository: name, manifests: result.items.map(manifestView) }, link);
    },
  };
}

// ---- Rendering ----

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return jsonResponse(status, body, { ...NO_STORE, ...headers });
}

const iso = (ms: number) => new Date(ms).toISOString();
/** Unlimited (Number.MAX_SAFE_INTEGER inside) is shown as null. */
const limitView = (n: number) => (n >= UNLIMITED ? null : n);

function tenantView(t: Tenant) {
  return { id: t.id, plan: t.plan, createdAt: iso(t.createdAt) };
}

function planView({ plan, builtIn }: PlanView) {
  const { repositories, storedBytes, manifestsPerRepository, uploadSessions } = plan.limits;
  return {
    name: plan.name,
    limits: {
      repositories: limitView(repositories), storedBytes: limitView(storedBytes), manifestsPerRepository: limitView(manifestsPerRepository),
      uploadSessions: limitView(uploadSessions),
    },
    builtIn,
  };
}

/** A key as listed: never its hash, never a secret. */
function keyView(k: ApiKeyRecord) {
  return {
    id: k.id,
    tenant: k.tenant,
    role: k.role,
    repositories: k.repositories ?? null,
    description: k.description ?? null,
    createdAt: iso(k.createdAt),
    lastUsedAt: k.lastUsedAt === undefined ? null : iso(k.lastUsedAt),
    revokedAt: k.revokedAt === undefined ? null : iso(k.revokedAt),
  };
}

function usageView(u: UsageReport) {
  return {
    tenant: u.tenant,
    plan: u.plan,
    repositories: { used: u.repositories.used, limit: limitView(u.repositories.limit) },
    storedBytes: { used: u.storedBytes.used, limit: limitView(u.storedBytes.limit) },
    manifestsPerRepository: u.manifestsPerRepository.map((r) => ({ repository: r.repository, manifests: r.manifests, limit: limitView(r.limit) })),
    uploadSessions: { used: u.uploadSessions.used, limit: limitView(u.uploadSessions.limit) },
    stagedBytes: u.stagedBytes,
  };
}

function manifestView(m: ManifestSummary) {
  return {
    digest: m.digest,
    mediaType: m.mediaType,
    ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
    size: m.size,
    tags: m.tags,
    createdAt: iso(m.createdAt),
  };
}

// ---- Parsing ----

/** ?n=&last= as in the registry's listings; a bad value is INVALID_REQUEST here. */
function parsePage(url: URL, maxPageSize: number): PageRequest {
  try {
    const { limit, after } = parsePageRequest(url, maxPageSize);
    return after === undefined ? { limit } : { limit, after };
  } catch (e) {
    if (isRegistryError(e)) throw new AdminError("INVALID_REQUEST", e.message, e.detail);
    throw e;
  }
}

/**
 * The body as `schema` describes it: Content-Type application/json (415 otherwise), at most
 * MAX_ADMIN_BODY_BYTES (413, refused as soon as it passes), valid JSON and valid against the
 * schema (400 with zod's issues as detail: path and message of each).
 */
export async function readJson<S extends z.ZodType>(request: Request, schema: S): Promise<z.infer<S>> {
  const type = request.headers.get("content-type");
  const mediaType = type?.split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/json") {
    throw new AdminError("UNSUPPORTED_MEDIA_TYPE", `the body must be JSON with Content-Type: application/json${type ? `, not ${type.slice(0, 60)}` : ""}`);
  }
  const text = await readText(request);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AdminError("INVALID_REQUEST", `the body is not valid JSON: ${e instanceof Error ? e.message.slice(0, 120) : "parse error"}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
    const first = issues[0]!;
    throw new AdminError("INVALID_REQUEST", `invalid body: ${first.path ? `${first.path}: ` : ""}${first.message}`, { issues });
  }
  return parsed.data;
}

async function readText(request: Request): Promise<string> {
  const tooLarge = () => new AdminError("BODY_TOO_LARGE", `the body is larger than ${MAX_ADMIN_BODY_BYTES} bytes`, { limit: MAX_ADMIN_BODY_BYTES });
  let bytes: Uint8Array;
  try {
    bytes = await readBodyLimited(request, MAX_ADMIN_BODY_BYTES, "the body", tooLarge);
  } catch (e) {
    if (isRegistryError(e) && e.code === "SIZE_INVALID") throw new AdminError("INVALID_REQUEST", "Content-Length is not a byte count");
    throw e;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new AdminError("INVALID_REQUEST", "the body is not valid UTF-8");
  }
}
