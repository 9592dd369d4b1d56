import { namespaceOf, parseRepositoryName, type RepositoryName } from "../oci/names.ts";
import type { Action, TenantStore } from "../ports.ts";
import type { Principal } from "./principal.ts";
import { actionsOfRole } from "./principal.ts";
import { matchesRepositoryPatterns } from "./repository-patterns.ts";

// What a principal may do to a repository: the one place access is decided, for tokens at /token
// and for Basic credentials sent straight to /v2/. A key acts only inside its tenant's namespace
// (and its repository patterns, when it has any), up to its role; anyone, anonymous included, may
// pull a public repository. The operator's credential is for the admin API, not for images.

export class AccessPolicy {
  constructor(private readonly tenants: TenantStore) {}

  /** The subset of `asked` the principal may do on `name`; empty for invalid names. */
  async granted(principal: Principal, name: string, asked: readonly Action[]): Promise<Action[]> {
    const repository = validName(name);
    if (!repository) return [];
    const allowed = new Set<Action>();
    if (principal.kind === "key" && ownsRepository(principal, repository)) {
      for (const action of actionsOfRole(principal.role)) allowed.add(action);
    }
    if (asked.includes("pull") && !allowed.has("pull") && (await this.tenants.getVisibility(repository)) === "public") {
      allowed.add("pull");
    }
    return asked.filter((a) => allowed.has(a));
  }
}

/** Whether the repository is in the key's tenant namespace and patterns. */
export function ownsRepository(principal: Extract<Principal, { kind: "key" }>, repository: RepositoryName): boolean {
  if (!repository.includes("/") || namespaceOf(repository) !== principal.tenant) return false;
  return principal.repositories === undefined || matchesRepositoryPatterns(repository, principal.repositories);
}

function validName(name: string): RepositoryName | undefined {
  try {
    return parseRepositoryName(name);
  } catch {
    return undefined;
  }
}
