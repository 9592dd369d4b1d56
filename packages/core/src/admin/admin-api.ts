import type { Principal } from "../auth/principal.ts";
import type { TenantGenerations } from "../auth/tenant-generations.ts";
import { emptyResponse, jsonResponse } from "../http/responses.ts";
import { matchRoute, route, type Route, type RouteParams } from "../http/router.ts";
import { namespaceOf } from "../oci/names.ts";
import type { BlobStore, Clock, MetadataStore, TenantId, TenantStore } from "../ports.ts";
import { KeyedLock } from "../services/keyed-lock.ts";
import { RepositoryService } from "../services/repositories.ts";
import { AdminError, renderError } from "./admin-errors.ts";
import { adminHandlers, type AdminHandler } from "./admin-handlers.ts";
import { AdminService, type AdminAccess } from "./admin-service.ts";

// The admin API (docs/admin-api.md): tenants, plans, API keys, usage and repositories, as JSON under
// /admin/v1. The entry adapter mounts it for paths starting with /admin/.

export interface AdminApiDeps {
  tenants: TenantStore;
  metadata: MetadataStore;
  /** Where deleting a repository deletes the bytes of blobs only it linked. */
  blobs: BlobStore;
  /** The registry's lock on blobs (`<tenant>/<digest>`), so those deletes never cross an upload in this process; a new one when absent. */
  blobLock?: KeyedLock;
  clock: Clock;
  /** The registry's copy of tenant generations, told at once when a tenant is created or deleted here. */
  tenantGenerations?: TenantGenerations;
  /**
   * Who sends the request: the operator, a tenant's API key, or anonymous when it carries no
   * credentials. Throws a RegistryError UNAUTHORIZED for credentials that do not check out.
   */
  authenticate: (request: Request) => Promise<Principal>;
  /** Largest page of a listing (n above it is capped, with a Link to the next page). */
  maxPageSize?: number;
  /** Called with failures the client sees only as a 500/503, for the entry adapter to log. */
  onUnexpectedError?: (error: unknown, request: Request) => void;
}

export interface AdminApi {
  /** Answers one request under /admin/. Never throws: failures become {"errors":[...]} responses. */
  handle(request: Request): Promise<Response>;
}

export function createAdminApi(deps: AdminApiDeps): AdminApi {
  // The admin API assumes namespace tenancy: a repository's tenant is its first path component.
  const repositories = new RepositoryService({
    blobs: deps.blobs,
    metadata: deps.metadata,
    tenants: deps.tenants,
    tenantOf: (name) => namespaceOf(name) as TenantId,
    blobLock: deps.blobLock ?? new KeyedLock(),
  });
  const service = new AdminService({
    tenants: deps.tenants, metadata: deps.metadata, repositories, clock: deps.clock,
    ...(deps.tenantGenerations ? { generations: deps.tenantGenerations } : {}),
  });
  const h = adminHandlers(service, { maxPageSize: deps.maxPageSize ?? 1000 });

  // Who may call each route (admin-service.ts "authorize"), checked before the body is read.
  const operator = (): AdminAccess => ({ kind: "operator" });
  const anyAdmin = (): AdminAccess => ({ kind: "any-admin" });
  const ofTenant = (p: RouteParams): AdminAccess => ({ kind: "tenant", tenant: p.tenant! });
  const ofRepository = (p: RouteParams): AdminAccess => ({ kind: "repository", name: p.name! });

  const adminRoute = (method: string, pattern: string, access: (p: RouteParams) => AdminAccess, handler: AdminHandler): Route =>
    route(method, pattern, "registry", async (input) => {
      const caller = await deps.authenticate(input.request);
      service.authorize(caller, access(input.params));
      return handler({ ...input, caller });
    });

  // What the admin API answers, in one table.
  const routes: Route[] = [
    adminRoute("POST",   "/admin/v1/tenants",                        operator,     h.createTenant),
    adminRoute("GET",    "/admin/v1/tenants",                        operator,     h.listTenants),
    adminRoute("GET",    "/admin/v1/tenants/<tenant>",               ofTenant,     h.getTenant),
    adminRoute("PATCH",  "/admin/v1/tenants/<tenant>",               operator,     h.updateTenant),
    adminRoute("DELETE", "/admin/v1/tenants/<tenant>",               operator,     h.deleteTenant),
    adminRoute("GET",    "/admin/v1/tenants/<tenant>/usage",         ofTenant,     h.usage),
    adminRoute("GET",    "/admin/v1/tenants/<tenant>/repositories",  ofTenant,     h.listRepositories),
    adminRoute("POST",   "/admin/v1/tenants/<tenant>/keys",          ofTenant,     h.createKey),
    adminRoute("GET",    "/admin/v1/tenants/<tenant>/keys",          ofTenant,     h.listKeys),
    adminRoute("DELETE", "/admin/v1/tenants/<tenant>/keys/<key>",    ofTenant,     h.revokeKey),
    adminRoute("GET",    "/admin/v1/plans",                          anyAdmin,     h.listPlans),
    adminRoute("PUT",    "/admin/v1/plans/<plan>",                   operator,     h.putPlan),
    adminRoute("PUT",    "/admin/v1/repositories/<name>/visibility", ofRepository, h.setVisibility),
    adminRoute("GET",    "/admin/v1/repositories/<name>/manifests",  ofRepository, h.listManifests),
    // <name> is greedy and may end in "/visibility" or "/manifests": only DELETE names the repository itself.
    adminRoute("DELETE", "/admin/v1/repositories/<name>",            ofRepository, h.deleteRepository),
  ];

  async function dispatch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const match = matchRoute(routes, request.method, url.pathname);
    if (match.kind === "method-not-allowed") {
      throw new AdminError("UNSUPPORTED", `${request.method} is not supported on ${shown(url.pathname)}; allowed: ${match.allowed.join(", ")}`, null, {
        allow: match.allowed.join(", "),
      });
    }
    if (match.kind === "not-found") throw new AdminError("NOT_FOUND", `no such endpoint: ${request.method} ${shown(url.pathname)}`);
    return match.route.handler({ request, url, params: match.params });
  }

  return {
    async handle(request) {
      try {
        return await dispatch(request);
      } catch (e) {
        const error = renderError(e);
        if (error.unexpected) deps.onUnexpectedError?.(e, request);
        // Leave no unread body behind a refusal, so the connection can be reused.
        await request.body?.cancel().catch(() => {});
        const headers = { "cache-control": "no-store", ...error.headers };
        if (request.method === "HEAD") return emptyResponse(error.status, headers);
        return jsonResponse(error.status, { errors: [{ code: error.code, message: error.message, detail: error.detail }] }, headers);
      }
    },
  };
}

function shown(path: string): string {
  return path.length > 120 ? `${path.slice(0, 120)}…` : path;
}
