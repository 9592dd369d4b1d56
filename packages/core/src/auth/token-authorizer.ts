import { namespaceOf } from "../oci/names.ts";
import type { AccessRequest, AuthDecision, Authorizer, CatalogView, TenantId } from "../ports.ts";
import type { AccessPolicy } from "./access-policy.ts";
import type { Authenticator } from "./authenticator.ts";
import { bearerChallenge, scopeOf } from "./challenges.ts";
import { presentedCredentials } from "./credentials.ts";
import { describePrincipal, type Principal } from "./principal.ts";
import type { TenantGenerations } from "./tenant-generations.ts";
import type { AccessClaims, RegistryTokens } from "./tokens.ts";

// The multi-tenant authorizer: Bearer tokens from /token (verified with the public key only; the
// tenant's generation is checked against a short-lived in-process copy, tenant-generations.ts, so a
// pull stays one read per request), or Basic API-key credentials sent straight to /v2/ for simple
// clients (one key read, then the same AccessPolicy /token applies). Without credentials, 401 with
// the challenge that starts the token flow.

export interface TokenAuthorizerDeps {
  tokens: RegistryTokens;
  authenticator: Authenticator;
  policy: AccessPolicy;
  generations: TenantGenerations;
  service: string;
  /** Absolute URL of /token; derived from each request's origin when not configured. */
  realm?: string;
}

export class TokenAuthorizer implements Authorizer {
  constructor(private readonly deps: TokenAuthorizerDeps) {}

  async authorize(request: Request, access: AccessRequest, _context: unknown): Promise<AuthDecision> {
    const credentials = presentedCredentials(request.headers.get("authorization"));
    const scope = scopeOf(access);
    const challenge = (error?: "invalid_token" | "insufficient_scope" | "invalid_request") =>
      bearerChallenge(
        { realm: this.deps.realm ?? new URL("/token", request.url).href, service: this.deps.service },
        { ...(scope ? { scope } : {}), ...(error ? { error } : {}) },
      );
    const refuse = (message: string, error?: "invalid_token" | "insufficient_scope" | "invalid_request"): AuthDecision => ({
      allowed: false,
      status: 401,
      message,
      headers: { "www-authenticate": challenge(error) },
    });

    switch (credentials.kind) {
      case "none":
        return refuse("authentication required: log in (docker login) or get a token from the realm in WWW-Authenticate");
      case "malformed":
        return refuse(credentials.reason, "invalid_request");
      case "bearer": {
        const claims = await this.deps.tokens.verifyAccess(credentials.token);
        if (!claims) return refuse("the token is not valid here (expired, or not issued by this registry): get a new one", "invalid_token");
        return this.decideForToken(claims, access, {
          insufficient: () => refuse(insufficientMessage(access), "insufficient_scope"),
          stale: (tenant) =>
            refuse(`the token was issued for an earlier tenant ${tenant}, deleted since (one of that name may exist again): log in again to get a new token`, "invalid_token"),
        });
      }
      case "basic": {
        const principal = await this.deps.authenticator.apiKey(credentials.password);
        if (!principal) return refuse("invalid username or API key");
        return this.decideForPrincipal(principal, access);
      }
    }
  }

  private async decideForToken(
    claims: AccessClaims,
    access: AccessRequest,
    refusals: { insufficient: () => AuthDecision; stale: (tenant: string) => AuthDecision },
  ): Promise<AuthDecision> {
    const subject = claims.sub;
    switch (access.kind) {
      case "registry":
        return { allowed: true, subject };
      case "catalog": {
        if (!claims.access.some((e) => e.type === "registry")) return refusals.insufficient();
        // The listing shows the key's tenant's private repositories: only while that tenant lives.
        if (claims.ten !== undefined && !(await this.isCurrent(claims, claims.ten as TenantId))) return refusals.stale(claims.ten);
        return { allowed: true, subject, catalog: visible(claims.ten as TenantId | undefined, claims.pat) };
      }
      case "repository": {
        const granted = new Set(claims.access.flatMap((e) => (e.type === "repository" && e.name === access.repository ? e.actions : [])));
        if (!access.actions.every((a) => granted.has(a))) return refusals.insufficient();
        // Checked after the scope, which costs nothing: only a request the token grants reads a generation.
        const tenant = namespaceOf(access.repository) as TenantId;
        return (await this.isCurrent(claims, tenant)) ? { allowed: true, subject } : refusals.stale(tenant);
      }
    }
  }

  /** Whether the token names the tenant's current generation (a token without one, issued before generations existed, does not). */
  private async isCurrent(claims: AccessClaims, tenant: TenantId): Promise<boolean> {
    const generation = claims.gen?.[tenant];
    return generation !== undefined && this.deps.generations.isCurrent(tenant, generation);
  }

  private async decideForPrincipal(principal: Extract<Principal, { kind: "key" }>, access: AccessRequest): Promise<AuthDecision> {
    const subject = describePrincipal(principal);
    switch (access.kind) {
      case "registry":
        return { allowed: true, subject };
      case "catalog":
        return { allowed: true, subject, catalog: visible(principal.tenant, principal.repositories) };
      case "repository": {
        const granted = await this.deps.policy.granted(principal, access.repository, access.actions);
        if (access.actions.every((a) => granted.includes(a))) return { allowed: true, subject };
        return { allowed: false, status: 403, subject, message: `this API key (role ${principal.role}) may not ${access.actions.join(" and ")} ${access.repository}` };
      }
    }
  }
}

function visible(tenant: TenantId | undefined, repositories: string[] | undefined): CatalogView {
  return { kind: "visible", ...(tenant ? { tenant } : {}), ...(repositories ? { repositories } : {}) };
}

function insufficientMessage(access: AccessRequest): string {
  return access.kind === "repository"
    ? `the token does not grant ${access.actions.join(",")} on ${access.repository}: ask /token for that scope with credentials that allow it`
    : "the token does not grant catalog access: ask /token for scope registry:catalog:*";
}
