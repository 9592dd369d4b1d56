import type { DeploymentStore, MetadataStore, TenancyMode, TenantStore } from "../ports.ts";

// Storage remembers the tenancy mode it was created in, and a start in the other mode is refused
// while the storage holds repositories, unless the operator says plainly that it is meant:
// - multi-tenant data served open would give every tenant's private repositories, read and write,
//   to anyone who can connect, with no authentication;
// - open data served multi-tenant would hand each repository, silently, to whichever tenant is
//   later created with its first path component as id ("acme/app" to a new tenant "acme").
// Storage without repositories changes mode freely: there is nothing to expose or misattribute.
//
// Storage written before the mode was recorded is judged by what it holds: any tenant means it was
// run multi-tenant (the protective reading: it refuses the open start that would expose it); else
// any repository means open; else it is empty. The entry adapters (the server, the Lambda) call
// settleTenancyMode once at start; the decision itself is the pure function below.

export interface ModeFacts {
  /** What the storage has recorded; undefined when nothing is. */
  recorded: TenancyMode | undefined;
  hasRepositories: boolean;
  /** Only looked at when nothing is recorded. */
  hasTenants: boolean;
}

export type ModeDecision =
  /** Recorded already in this mode: nothing to write. */
  | { action: "keep" }
  /** Record the mode; `from` is the mode the storage leaves (an empty store, or a change the operator accepted). */
  | { action: "record"; from?: TenancyMode }
  | { action: "refuse"; was: TenancyMode };

export function decideTenancyMode(facts: ModeFacts, wanted: TenancyMode, acceptChange: boolean): ModeDecision {
  if (facts.recorded === wanted) return { action: "keep" };
  const was = facts.recorded ?? (facts.hasTenants ? "multi-tenant" : facts.hasRepositories ? "open" : undefined);
  if (was === undefined || was === wanted) return { action: "record" };
  if (!facts.hasRepositories || acceptChange) return { action: "record", from: was };
  return { action: "refuse", was };
}

/** How the operator names things, for the one-line refusal. */
export interface ModeNames {
  /** The storage: "data directory ./data", "DynamoDB table registry". */
  storage: string;
  /** The setting that turns multi-tenant mode on: "--multi-tenant". */
  multiTenantOption: string;
  /** The setting that accepts the change: "--accept-mode-change (STRATUS_ACCEPT_MODE_CHANGE=true)". */
  acceptOption: string;
}

/** A start refused because of the storage's mode; its message is one line, for the operator. */
export class TenancyModeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TenancyModeError";
  }
}

export function modeRefusal(was: TenancyMode, names: ModeNames): string {
  return was === "multi-tenant"
    ? `refusing to start: ${names.storage} was created in multi-tenant mode and holds repositories; started without ${names.multiTenantOption} ` +
        `it would serve every tenant's private repositories, read and write, to anyone without authentication. ` +
        `Start it with ${names.multiTenantOption}, or, to make it an open registry on purpose, add ${names.acceptOption}.`
    : `refusing to start: ${names.storage} was created in open (single-tenant) mode and holds repositories; in multi-tenant mode each would ` +
        `silently belong to whichever tenant is later created with its first path component as id. ` +
        `Start it without ${names.multiTenantOption}, or, to hand its repositories to those tenants on purpose, add ${names.acceptOption}.`;
}

export interface TenancyModeStores {
  deployment: DeploymentStore;
  metadata: MetadataStore;
  tenants: TenantStore;
}

/** Attempts when another start records a mode between this one's read and write. */
const ATTEMPTS = 3;

/**
 * Checks the storage's mode against the one wanted and records it: one read when it matches (every
 * start but the first). Throws TenancyModeError when the start must not go on; returns the mode the
 * storage left when it changed.
 */
export async function settleTenancyMode(
  stores: TenancyModeStores,
  wanted: TenancyMode,
  options: { acceptChange: boolean; names: ModeNames },
): Promise<{ changedFrom?: TenancyMode }> {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const recorded = await stores.deployment.getTenancyMode();
    if (recorded === wanted) return {};
    const [repositories, tenants] = await Promise.all([
      stores.metadata.listRepositories({ limit: 1 }),
      recorded === undefined ? stores.tenants.listTenants({ limit: 1 }) : undefined,
    ]);
    const decision = decideTenancyMode({ recorded, hasRepositories: repositories.items.length > 0, hasTenants: (tenants?.items.length ?? 0) > 0 }, wanted, options.acceptChange);
    if (decision.action === "refuse") throw new TenancyModeError(modeRefusal(decision.was, options.names));
    if (decision.action === "keep") return {};
    if (await stores.deployment.setTenancyMode(wanted, recorded)) return decision.from ? { changedFrom: decision.from } : {};
  }
  throw new Error(`the storage's tenancy mode kept changing during ${ATTEMPTS} attempts to record it: is another start in the other mode running?`);
}
