import type { Action } from "../ports.ts";
import { repositoryScope } from "./scopes.ts";

// WWW-Authenticate for the Docker token flow: where to get a token (realm), for which service, and
// for repository requests the scope to ask for. error= tells a client whether its token was bad
// ("invalid_token") or merely too narrow ("insufficient_scope"), as RFC 6750 names them.

export interface ChallengeSettings {
  realm: string;
  service: string;
}

export function bearerChallenge(
  settings: ChallengeSettings,
  options: { repository?: string; actions?: readonly Action[]; error?: "invalid_token" | "insufficient_scope" | "invalid_request" } = {},
): string {
  const parts = [`realm="${settings.realm}"`, `service="${settings.service}"`];
  if (options.repository && options.actions?.length) parts.push(`scope="${repositoryScope(options.repository, options.actions)}"`);
  if (options.error) parts.push(`error="${options.error}"`);
  return `Bearer ${parts.join(",")}`;
}
