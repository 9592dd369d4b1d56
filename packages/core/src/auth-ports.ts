import type { RepositoryName } from "./oci/names.ts";
import type { TenantId } from "./ports.ts";

// What entry adapters hand core with every request (RequestContext), and the port that decides
// whether a request may proceed (Authorizer): open on loopback, or the multi-tenant token authorizer.

export type Action = "pull" | "push" | "delete";

/** What a request asks to do, for the authorizer: a repository and actions, or the registry itself. */
export type AccessRequest =
  | { kind: "registry" }
  | { kind: "catalog" }
  | {
      kind: "repository";
      repository: RepositoryName;
      actions: Action[];
      /**
       * Other repositories the request would read if allowed (a mount's source). Not required: the
       * challenge names them too, so a client that follows it gets a token that can mount.
       */
      optional?: { repository: RepositoryName; actions: Action[] }[];
    };

export interface RequestContext {
  /** The peer's IP address, as the entry adapter saw it. */
  remoteAddress?: string;
  /** The request target exactly as received, before URL parsing resolved any dot segments. */
  rawTarget?: string;
  /**
   * Who made the request, filled in by core once it checked the credentials (also when it then
   * refuses), for the entry adapter's request log. Never a secret.
   */
  caller?: Caller;
}

/** A request's caller as logs name it: the tenant and API key it acted as, when it presented one. */
export interface Caller {
  tenant?: TenantId;
  keyId?: string;
}

/** Which repositories a caller sees in the catalog: all (open registry), or public ones plus its tenant's. */
export type CatalogView =
  | { kind: "all" }
  | { kind: "visible"; tenant?: TenantId; /** The key's repository patterns, if it has any. */ repositories?: string[] };

export type AuthDecision =
  | { allowed: true; /** who, for logs; never a secret */ subject: string; /** for catalog requests; "all" when absent */ catalog?: CatalogView }
  | { allowed: false; status: 401 | 403; message: string; headers?: Record<string, string>; /** who was refused, when known (403); for logs */ subject?: string };

/** Decides whether a request may proceed. Tenancy and tokens plug in here (issue: tenants and auth). */
export interface Authorizer {
  authorize(request: Request, access: AccessRequest, context: RequestContext): Promise<AuthDecision>;
}
