import { parseRegistryConfig, type RegistryConfig, type RegistryConfigInput } from "./config.ts";
import { RegistryError } from "./errors.ts";
import { blobHandlers } from "./http/blob-handlers.ts";
import { listingHandlers } from "./http/listing-handlers.ts";
import { manifestHandlers } from "./http/manifest-handlers.ts";
import { errorResponse, jsonResponse, toRegistryError } from "./http/responses.ts";
import { decodePathEscapes, rawPathProblem } from "./http/raw-path.ts";
import { matchRoute, noRoute, route, type Route } from "./http/router.ts";
import { mountSource, uploadHandlers } from "./http/upload-handlers.ts";
import type { UploadLinks } from "./http/upload-links.ts";
import type { RepositoryName } from "./oci/names.ts";
import type { AuthDecision, Authorizer, BlobStore, Clock, MetadataStore, RequestContext } from "./ports.ts";
import { createAdminApi } from "./admin/index.ts";
import { callerOf, callerOfSubject } from "./auth/principal.ts";
import { createTokenAuth, type TokenAuthDeps } from "./auth/token-auth.ts";
import { CatalogService } from "./services/catalog.ts";
import { BlobService } from "./services/blobs.ts";
import { KeyedLock } from "./services/keyed-lock.ts";
import { ManifestService } from "./services/manifests.ts";
import { limitsFromPlans, noLimits, type LimitsOf } from "./services/plans.ts";
import { tenantResolver } from "./services/tenancy.ts";
import { RepositoryService } from "./services/repositories.ts";
import { UploadService } from "./services/uploads.ts";
import type { SweepOptions } from "./services/upload-sweep.ts";

export interface RegistryDeps {
  blobs: BlobStore;
  metadata: MetadataStore;
  /** Decides every request on an open (single-tenant) registry; multi-tenant mode uses tokens instead. */
  authorizer?: Authorizer;
  /**
   * Multi-tenant mode (tenancy "namespace"): tenants, plans and API keys, the Docker token flow at
   * /token and the admin API at /admin/v1. Plans' limits apply to every push.
   */
  multiTenant?: TokenAuthDeps;
  /** Upload sessions on another host (the upload service): absolute, token-carrying Locations. */
  uploadLinks?: UploadLinks;
  /** Each tenant's limits, enforced by the store on every push (services/quotas.ts); none when absent. */
  limitsOf?: LimitsOf;
  clock?: Clock;
  /**
   * Called with failures the client sees only as a 500/503, for the entry adapter to log; without a
   * request for background work that failed on its own (recording a key's last use).
   */
  onUnexpectedError?: (error: unknown, request?: Request) => void;
}

export interface Registry {
  /** Answers one HTTP request. Never throws: every failure becomes the spec's error response. */
  handle(request: Request, context?: RequestContext): Promise<Response>;
  /**
   * Removes every upload session idle past the TTL with its bytes, page after page (until
   * `options.until`, epoch ms, if given); returns how many. Call it periodically.
   */
  expireUploads(options?: SweepOptions): Promise<number>;
  /**
   * Deletes the repository with every image in it, giving its room back to the tenant (the admin API's
   * DELETE /admin/v1/repositories/<name>, for deployments without it); false when there is none.
   */
  deleteRepository(name: RepositoryName): Promise<boolean>;
  readonly config: RegistryConfig;
}

function missing(message: string): never {
  throw new Error(message);
}

const systemClock: Clock = { now: () => Date.now() };
const contexts = new WeakMap<Request, RequestContext>();

export function createRegistry(deps: RegistryDeps, configInput: RegistryConfigInput = {}): Registry {
  const config = parseRegistryConfig(configInput);
  const clock = deps.clock ?? systemClock;
  const tenantOf = tenantResolver(config);
  const blobLock = new KeyedLock();
  const { blobs: blobStore, metadata } = deps;
  const multiTenant = deps.multiTenant;
  if (multiTenant && config.tenancy !== "namespace") throw new Error("multi-tenant mode needs tenancy \"namespace\"");
  const tokenAuth = multiTenant ? createTokenAuth(multiTenant, config, clock, (e) => deps.onUnexpectedError?.(e)) : undefined;
  const authorizer: Authorizer = tokenAuth?.authorizer ?? deps.authorizer ?? missing("createRegistry needs an authorizer, or multiTenant settings");
  const admin = multiTenant && tokenAuth
    ? createAdminApi({ tenants: multiTenant.tenants, metadata, blobs: blobStore, blobLock, clock, tenantGenerations: tokenAuth.generations,
        authenticate: async (request) => {
          const principal = await tokenAuth.authenticator.adminCaller(request);
          const context = contexts.get(request);
          if (context) context.caller = callerOf(principal);
          return principal;
        },
        ...(deps.onUnexpectedError ? { onUnexpectedError: deps.onUnexpectedError } : {}),
      })
    : undefined;
  const catalogService = new CatalogService({ metadata, ...(multiTenant ? { tenants: multiTenant.tenants } : {}) });

  const blobService = new BlobService({ blobs: blobStore, metadata, tenantOf, blobLock });
  // Multi-tenant: each tenant's plan limits every push (checked inside the storage transaction).
  const limitsOf = deps.limitsOf ?? (multiTenant ? limitsFromPlans(multiTenant.tenants) : noLimits);
  const uploadService = new UploadService({ blobs: blobStore, metadata, clock, tenantOf, limitsOf, blobLock, uploadTtlMs: config.uploadTtlSeconds * 1000, resumableHashing: config.resumableHashing });
  const manifestService = new ManifestService({ metadata, clock, tenantOf, limitsOf });
  const repositoryService = new RepositoryService({ blobs: blobStore, metadata, tenantOf, blobLock, ...(multiTenant ? { tenants: multiTenant.tenants } : {}) });

  const blobs = blobHandlers(blobService, config);
  const uploads = uploadHandlers(uploadService, authorizer, config, (r) => contexts.get(r) ?? {});
  const manifests = manifestHandlers(manifestService, config);
  const listings = listingHandlers(metadata, catalogService, config);
  const base = async () => jsonResponse(200, {});

  // What the registry answers, in one table. Upload routes precede blob routes: "/blobs/uploads/"
  // would otherwise read as a blob whose digest is "uploads".
  const routes: Route[] = [
    route("GET", "/v2/", "registry", base),
    route("GET", "/v2/_catalog", "catalog", listings.catalog),
    route("POST", "/v2/<name>/blobs/uploads/", ["pull", "push"], uploads.start, mountSource),
    route("GET", "/v2/<name>/blobs/uploads/<id>", ["pull", "push"], uploads.status),
    route("PATCH", "/v2/<name>/blobs/uploads/<id>", ["pull", "push"], uploads.append),
    route("PUT", "/v2/<name>/blobs/uploads/<id>", ["pull", "push"], uploads.finish),
    route("DELETE", "/v2/<name>/blobs/uploads/<id>", ["pull", "push"], uploads.cancel),
    route("HEAD", "/v2/<name>/blobs/<digest>", ["pull"], blobs.head),
    route("GET", "/v2/<name>/blobs/<digest>", ["pull"], blobs.get),
    route("DELETE", "/v2/<name>/blobs/<digest>", ["delete"], blobs.delete),
    route("HEAD", "/v2/<name>/manifests/<reference>", ["pull"], manifests.head),
    route("GET", "/v2/<name>/manifests/<reference>", ["pull"], manifests.get),
    route("PUT", "/v2/<name>/manifests/<reference>", ["pull", "push"], manifests.put),
    route("DELETE", "/v2/<name>/manifests/<reference>", ["delete"], manifests.delete),
    route("GET", "/v2/<name>/tags/list", ["pull"], listings.tags),
    route("GET", "/v2/<name>/referrers/<digest>", ["pull"], listings.referrers),
  ];

  // Upload links name their tenant's generation, as access tokens do (auth/tenant-generations.ts).
  const linkGeneration = tokenAuth ? (repository: RepositoryName) => tokenAuth.generations.current(tenantOf(repository)) : undefined;
  const linkGenerationIsCurrent = tokenAuth
    ? async (repository: RepositoryName, generation: string | undefined) => generation !== undefined && (await tokenAuth.generations.isCurrent(tenantOf(repository), generation))
    : undefined;

  async function dispatch(request: Request, context: RequestContext): Promise<Response> {
    const url = new URL(request.url);
    const problem = context.rawTarget === undefined ? undefined : rawPathProblem(context.rawTarget);
    if (problem) {
      // Under /v2 the only free part of a path is the repository name; elsewhere no route matches.
      throw url.pathname.startsWith("/v2") ? new RegistryError("NAME_INVALID", problem, null) : new RegistryError("UNSUPPORTED", problem, null, { status: 400 });
    }
    if (tokenAuth && url.pathname === "/token") return tokenAuth.tokenEndpoint.handle(request, context);
    if (admin && url.pathname.startsWith("/admin/")) return admin.handle(request);
    // "/v2" and "/v2/" are the same endpoint for clients.
    const path = decodePathEscapes(url.pathname === "/v2" ? "/v2/" : url.pathname);
    const match = matchRoute(routes, request.method, path);
    if (match.kind !== "found") throw noRoute(match, request.method, path);
    if (config.tenancy === "namespace" && match.params.name !== undefined && !match.params.name.includes("/")) {
      const name = match.params.name;
      throw new RegistryError("NAME_INVALID", `repository names here are <namespace>/<name>, with your tenant's namespace first: for example "yourtenant/${name}"`, { name });
    }
    // An upload link's token stands in for credentials the client does not send to the upload host.
    const granted = deps.uploadLinks ? (await deps.uploadLinks.check(url, match.params, linkGenerationIsCurrent)) === "granted" : false;
    const decision: AuthDecision = granted ? { allowed: true, subject: "upload-link" } : await authorizer.authorize(request, match.route.access(match.params, url), context);
    // For the entry adapter's log. An upload link names no key; in multi-tenant mode its repository names the tenant.
    if (!granted) context.caller = callerOfSubject(decision.subject ?? "");
    else if (config.tenancy === "namespace") context.caller = { tenant: tenantOf(match.params.name as RepositoryName) };
    if (!decision.allowed) {
      throw new RegistryError(decision.status === 401 ? "UNAUTHORIZED" : "DENIED", decision.message, null, {
        status: decision.status,
        ...(decision.headers ? { headers: decision.headers } : {}),
      });
    }
    return match.route.handler({ request, url, params: match.params, ...(decision.catalog ? { catalog: decision.catalog } : {}) });
  }

  return {
    config,
    async handle(request, context = {}) {
      contexts.set(request, context);
      let response: Response;
      try {
        response = await dispatch(request, context);
      } catch (e) {
        const { error, unexpected } = toRegistryError(e);
        if (unexpected) deps.onUnexpectedError?.(e, request);
        // Leave no unread body behind a refusal: the connection can then be reused.
        await request.body?.cancel().catch(() => {});
        response = errorResponse(error, request.method);
      }
      await deps.uploadLinks?.rewrite(response, linkGeneration);
      return response;
    },
    expireUploads: (options) => uploadService.expireIdle(options),
    deleteRepository: (name) => repositoryService.delete(name),
  };
}
