import type { RegistryConfig } from "../config.ts";
import type { Clock, TenantStore } from "../ports.ts";
import { AccessPolicy } from "./access-policy.ts";
import { TenantGenerations } from "./tenant-generations.ts";
import { Authenticator } from "./authenticator.ts";
import { TokenAuthorizer } from "./token-authorizer.ts";
import { TokenEndpoint } from "./token-endpoint.ts";
import type { TokenKeySet } from "./token-keys.ts";
import { RegistryTokens } from "./tokens.ts";

/** What multi-tenant mode needs from the entry adapter: the tenant store and the secrets from configuration. */
export interface TokenAuthDeps {
  tenants: TenantStore;
  /** Signs and verifies registry tokens (TokenKeySet.fromSecrets). */
  tokenKeys: TokenKeySet;
  /** The operator's bootstrap credential for the admin API; without it only tenant admin keys can administer. */
  operatorToken?: string;
}

/** The pieces of the Docker token flow, wired once per registry. */
export function createTokenAuth(deps: TokenAuthDeps, config: RegistryConfig, clock: Clock, onBackgroundError?: (error: unknown) => void) {
  const tokens = new RegistryTokens(
    deps.tokenKeys,
    { service: config.auth.service, accessTtlSeconds: config.auth.accessTokenTtlSeconds, refreshTtlSeconds: config.auth.refreshTokenTtlSeconds },
    () => clock.now(),
  );
  const authenticator = new Authenticator({ tenants: deps.tenants, clock, ...(onBackgroundError ? { onBackgroundError } : {}) }, deps.operatorToken);
  const policy = new AccessPolicy(deps.tenants);
  // One per registry: the admin API of the same registry tells it when a tenant is created or deleted.
  const generations = new TenantGenerations(deps.tenants, clock);
  return {
    authenticator,
    generations,
    authorizer: new TokenAuthorizer({ tokens, authenticator, policy, generations, service: config.auth.service, ...(config.auth.realm ? { realm: config.auth.realm } : {}) }),
    tokenEndpoint: new TokenEndpoint({ tokens, authenticator, policy, generations }),
  };
}
