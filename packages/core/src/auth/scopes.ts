import type { Action } from "../ports.ts";
import { MAX_NAME_LENGTH } from "../oci/names.ts";

// Docker token scopes: "repository:<name>:<actions>" and "registry:catalog:*"
// (https://distribution.github.io/distribution/spec/auth/scope/). A token request may carry several
// scope parameters, and the OAuth2 form separates scopes with spaces. Malformed scopes are ignored,
// as distribution does: they grant nothing.

export type ScopeRequest =
  | { type: "repository"; name: string; actions: Action[] }
  | { type: "catalog" };

const ACTIONS: ReadonlySet<string> = new Set(["pull", "push", "delete"]);
/** Bounds the work one token request can ask for. */
export const MAX_SCOPES = 32;

export function parseScopes(values: readonly string[]): ScopeRequest[] {
  const scopes: ScopeRequest[] = [];
  for (const value of values.flatMap((v) => v.split(" ")).filter(Boolean).slice(0, MAX_SCOPES)) {
    const first = value.indexOf(":");
    const last = value.lastIndexOf(":");
    if (first <= 0 || last === first) continue;
    // "repository(plugin)" is a resource class some clients add; it means the same repository.
    const type = value.slice(0, first).replace(/\(.*\)$/, "");
    const name = value.slice(first + 1, last);
    const actions = value.slice(last + 1).split(",");
    if (type === "registry" && name === "catalog") {
      scopes.push({ type: "catalog" });
    } else if (type === "repository" && name.length > 0 && name.length <= MAX_NAME_LENGTH) {
      // "*" asks for every action, as the spec allows.
      const asked = actions.includes("*") ? [...ACTIONS] : actions.filter((a) => ACTIONS.has(a));
      if (asked.length > 0) scopes.push({ type: "repository", name, actions: [...new Set(asked)] as Action[] });
    }
  }
  return scopes;
}

export const CATALOG_SCOPE = "registry:catalog:*";

/** The scope string of a repository request, for challenges. */
export function repositoryScope(name: string, actions: readonly Action[]): string {
  return `repository:${name}:${actions.join(",")}`;
}
