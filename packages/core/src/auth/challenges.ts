import type { AccessRequest } from "../ports.ts";
import { CATALOG_SCOPE, repositoryScope } from "./scopes.ts";

// WWW-Authenticate for the Docker token flow: where to get a token (realm), for which service, and
// for repository requests the scope to ask for. error= tells a client whether its token was bad
// ("invalid_token") or merely too narrow ("insufficient_scope"), as RFC 6750 names them.

export interface ChallengeSettings {
  realm: string;
  service: string;
}

export function bearerChallenge(
  settings: ChallengeSettings,
  options: { scope?: string; error?: "invalid_token" | "insufficient_scope" | "invalid_request" } = {},
): string {
  const parts = [`realm="${settings.realm}"`, `service="${settings.service}"`];
  if (options.scope) parts.push(`scope="${options.scope}"`);
  if (options.error) parts.push(`error="${options.error}"`);
  return `Bearer ${parts.join(",")}`;
}

/**
 * The scope a request needs, for its challenge: none for the base endpoint. A mount also names its
 * source repository (space-separated, as distribution does), so the token the client then asks
 * for can read there and the mount succeeds instead of falling back to an upload.
 */
export function scopeOf(access: AccessRequest): string | undefined {
  if (access.kind === "repository") {
    return [access, ...(access.optional ?? [])].map((a) => repositoryScope(a.repository, a.actions)).join(" ");
  }
  return access.kind === "catalog" ? CATALOG_SCOPE : undefined;
}
