import { RegistryError } from "../errors.ts";
import { readBodyLimited } from "../http/body.ts";
import { jsonResponse } from "../http/responses.ts";
import { namespaceOf, type RepositoryName } from "../oci/names.ts";
import type { RequestContext, TenantId } from "../ports.ts";
import type { AccessPolicy } from "./access-policy.ts";
import type { Authenticator } from "./authenticator.ts";
import { presentedCredentials } from "./credentials.ts";
import { callerOf, describePrincipal, type Principal } from "./principal.ts";
import { parseScopes, type ScopeRequest } from "./scopes.ts";
import type { TenantGenerations } from "./tenant-generations.ts";
import type { AccessEntry, RegistryTokens } from "./tokens.ts";

// /token, the Docker token endpoint. GET takes Basic credentials or none (anonymous) and `scope`
// parameters (podman, skopeo, containerd); POST takes the OAuth2 form with grant_type "password" or
// "refresh_token" (docker login, docker push). Either way the token grants exactly what was asked
// AND is allowed (AccessPolicy); a scope that grants nothing is left out, not refused, so a client
// learns about the missing permission from the registry's insufficient_scope answer. The token names
// the generation of every tenant it touches (tenant-generations.ts), so it dies with the tenant.

/** A token request's form body is a few hundred bytes; this bounds what we read. */
const MAX_FORM_BYTES = 16 * 1024;

export interface TokenEndpointDeps {
  tokens: RegistryTokens;
  authenticator: Authenticator;
  policy: AccessPolicy;
  generations: TenantGenerations;
}

/** A key whose tenant is gone (deleted while the key was being read): no token, as for any invalid key. */
const TENANT_GONE = "invalid username or API key: its tenant no longer exists";

export class TokenEndpoint {
  constructor(private readonly deps: TokenEndpointDeps) {}

  /** Answers /token; `context.caller` names the key that asked, for the request log. */
  async handle(request: Request, context: RequestContext = {}): Promise<Response> {
    if (request.method === "GET") return this.get(request, context);
    if (request.method === "POST") return this.post(request, context);
    throw new RegistryError("UNSUPPORTED", `${request.method} is not supported on /token; use GET or POST`, null, { headers: { allow: "GET, POST" } });
  }

  private async get(request: Request, context: RequestContext): Promise<Response> {
    const url = new URL(request.url);
    const credentials = presentedCredentials(request.headers.get("authorization"));
    let principal: Principal = { kind: "anonymous" };
    if (credentials.kind === "basic") {
      const key = await this.deps.authenticator.apiKey(credentials.password);
      if (!key) return unauthorized("invalid username or API key");
      principal = key;
      context.caller = callerOf(key);
    } else if (credentials.kind !== "none") {
      return unauthorized(credentials.kind === "malformed" ? credentials.reason : "/token takes Basic credentials or none");
    }
    const offline = url.searchParams.get("offline_token") === "true";
    return this.respond(principal, parseScopes(url.searchParams.getAll("scope")), offline, () => unauthorized(TENANT_GONE));
  }

  private async post(request: Request, context: RequestContext): Promise<Response> {
    const type = request.headers.get("content-type") ?? "";
    if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      await request.body?.cancel().catch(() => {});
      return oauthError(400, "invalid_request", "POST /token takes an application/x-www-form-urlencoded form");
    }
    const form = await readForm(request);
    if (!form) return oauthError(413, "invalid_request", `the token request is larger than ${MAX_FORM_BYTES} bytes; a token request form is a few hundred bytes`);
    const scopes = parseScopes(form.getAll("scope"));
    switch (form.get("grant_type")) {
      case "password": {
        const key = await this.deps.authenticator.apiKey(form.get("password") ?? "");
        if (!key) return oauthError(401, "invalid_grant", "invalid username or API key");
        context.caller = callerOf(key);
        return this.respond(key, scopes, form.get("access_type") === "offline", () => oauthError(401, "invalid_grant", TENANT_GONE));
      }
      case "refresh_token": {
        const refresh = await this.deps.tokens.verifyRefresh(form.get("refresh_token") ?? "");
        const key = refresh ? await this.deps.authenticator.keyById(refresh.keyId) : undefined;
        if (!refresh || !key || key.tenant !== refresh.tenant) {
          return oauthError(401, "invalid_grant", "the refresh token is expired, or its API key was revoked: log in again");
        }
        context.caller = callerOf(key);
        return this.respond(key, scopes, false, () => oauthError(401, "invalid_grant", TENANT_GONE), form.get("refresh_token")!);
      }
      default:
        return oauthError(400, "unsupported_grant_type", "grant_type must be \"password\" or \"refresh_token\"");
    }
  }

  private async respond(principal: Principal, scopes: ScopeRequest[], offline: boolean, tenantGone: () => Response, refreshToken?: string): Promise<Response> {
    const bound = await this.withGenerations(principal, await this.grants(principal, scopes));
    if (!bound) return tenantGone();
    const { token, issuedAt } = await this.deps.tokens.issueAccess({
      sub: describePrincipal(principal),
      access: bound.access,
      gen: bound.gen,
      ...(principal.kind === "key" ? { ten: principal.tenant, ...(principal.repositories ? { pat: principal.repositories } : {}) } : {}),
    });
    const refresh = refreshToken ?? (offline && principal.kind === "key" ? await this.deps.tokens.issueRefresh(principal.keyId, principal.tenant) : undefined);
    return jsonResponse(
      200,
      {
        token,
        access_token: token,
        expires_in: this.deps.tokens.accessTtlSeconds,
        issued_at: issuedAt.toISOString(),
        ...(refresh ? { refresh_token: refresh } : {}),
      },
      { "cache-control": "no-store" },
    );
  }

  private async grants(principal: Principal, scopes: ScopeRequest[]): Promise<AccessEntry[]> {
    const entries: AccessEntry[] = [];
    for (const scope of scopes) {
      if (scope.type === "catalog") {
        // Everyone may list; the listing shows each caller only what it may pull.
        entries.push({ type: "registry", name: "catalog", actions: ["*"] });
        continue;
      }
      const actions = await this.deps.policy.granted(principal, scope.name, scope.actions);
      if (actions.length > 0) entries.push({ type: "repository", name: scope.name, actions });
    }
    return entries;
  }

  /**
   * The current generation of every tenant the token would name: the key's own, and the owner of
   * each repository granted. A grant in a tenant that no longer exists is left out; undefined when
   * the key's own tenant is gone.
   */
  private async withGenerations(principal: Principal, entries: AccessEntry[]): Promise<{ access: AccessEntry[]; gen: Record<string, string> } | undefined> {
    const tenants = new Set<TenantId>(principal.kind === "key" ? [principal.tenant] : []);
    for (const entry of entries) if (entry.type === "repository") tenants.add(ownerOf(entry.name));
    const gen: Record<string, string> = {};
    await Promise.all(
      [...tenants].map(async (tenant) => {
        const generation = await this.deps.generations.current(tenant);
        if (generation !== undefined) gen[tenant] = generation;
      }),
    );
    if (principal.kind === "key" && gen[principal.tenant] === undefined) return undefined;
    return { access: entries.filter((entry) => entry.type !== "repository" || gen[ownerOf(entry.name)] !== undefined), gen };
  }
}

/** The tenant of a granted repository: the first component of its (already validated) name. */
function ownerOf(name: string): TenantId {
  return namespaceOf(name as RepositoryName) as TenantId;
}

/** The form body, or undefined when it passes MAX_FORM_BYTES (an OAuth2 error then, not an OCI one). */
async function readForm(request: Request): Promise<URLSearchParams | undefined> {
  const tooLarge = new Error("token request too large");
  try {
    return new URLSearchParams(new TextDecoder().decode(await readBodyLimited(request, MAX_FORM_BYTES, "the token request", () => tooLarge)));
  } catch (e) {
    if (e === tooLarge) return undefined;
    throw e;
  }
}

function unauthorized(message: string): Response {
  return jsonResponse(401, { errors: [{ code: "UNAUTHORIZED", message, detail: null }] }, { "www-authenticate": 'Basic realm="stratus"', "cache-control": "no-store" });
}

function oauthError(status: 400 | 401 | 413, error: string, description: string): Response {
  return jsonResponse(status, { error, error_description: description }, { "cache-control": "no-store" });
}
