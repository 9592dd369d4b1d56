import type { Action, Caller, Role, TenantId } from "../ports.ts";

// Who a request comes from, once its credentials are checked. Every access decision starts here.
export type Principal =
  /** The deployment's operator (bootstrap credential from configuration): the admin API of every tenant. */
  | { kind: "operator" }
  /** An API key of one tenant, or a token issued for one. */
  | { kind: "key"; tenant: TenantId; keyId: string; role: Role; repositories?: string[] }
  | { kind: "anonymous" };

const ROLE_ACTIONS: Record<Role, readonly Action[]> = {
  pull: ["pull"],
  push: ["pull", "push"],
  delete: ["pull", "push", "delete"],
  admin: ["pull", "push", "delete"],
};

/** Registry actions a role allows (roles are cumulative). */
export function actionsOfRole(role: Role): readonly Action[] {
  return ROLE_ACTIONS[role];
}

/** For logs: who, never a secret. */
export function describePrincipal(principal: Principal): string {
  switch (principal.kind) {
    case "operator":
      return "operator";
    case "anonymous":
      return "anonymous";
    case "key":
      return `key:${principal.tenant}/${principal.keyId}`;
  }
}

/** The caller a request log names for a principal: its tenant and key id, nothing for the others. */
export function callerOf(principal: Principal): Caller {
  return principal.kind === "key" ? { tenant: principal.tenant, keyId: principal.keyId } : {};
}

/**
 * The caller behind a subject describePrincipal wrote (an authorizer's decision, a token's `sub`):
 * "key:<tenant>/<keyId>" names both; "operator", "anonymous" and the open registry's subjects none.
 */
export function callerOfSubject(subject: string): Caller {
  const key = /^key:([^/]+)\/([^/]+)$/.exec(subject);
  return key ? { tenant: key[1] as TenantId, keyId: key[2]! } : {};
}
