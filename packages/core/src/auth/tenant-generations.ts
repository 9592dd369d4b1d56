import { randomBytes } from "node:crypto";
import type { Clock, TenantId, TenantStore } from "../ports.ts";

// Which incarnation of a tenant a token was issued for. A tenant id is a name, and a name can be
// taken again: delete tenant "acme", create "acme" anew, and a token issued to a key of the old one
// would still name "acme/..." repositories. So a tenant also has a random generation (Tenant.generation),
// every token names the generation of each tenant whose repositories it grants, and the registry
// refuses a token whose generation is not the tenant's current one.
//
// Checking costs a tenant read, which a pull by token did not make before (a pull is otherwise one
// read per request). Generations read from storage are kept in process for GENERATION_TTL_MS, so a
// busy instance reads each tenant at most once per that time. The bound that buys:
// - on the instance that deletes or creates the tenant (the local server, whose admin API is in
//   the same process), at once: the admin service calls forget();
// - on other instances (other Lambda containers, a second server on the same storage), within
//   GENERATION_TTL_MS of the deletion.
// A cached generation that does not match is read again before refusing (the tenant may just have
// been created), so a new tenant's first tokens never wait out the cache.

/** How long a generation read from storage is trusted; the delay before a deletion reaches other instances. */
export const GENERATION_TTL_MS = 5_000;
/** Tenants remembered at most; the oldest entry goes first. */
const MAX_ENTRIES = 10_000;

/** A new tenant's generation: 96 random bits, short enough to sit in every token. */
export function newTenantGeneration(): string {
  return randomBytes(12).toString("base64url");
}

export class TenantGenerations {
  private readonly cache = new Map<TenantId, { generation: string | undefined; readAt: number }>();
  /** Reads in flight, so concurrent requests of one tenant share one read. */
  private readonly reading = new Map<TenantId, Promise<string | undefined>>();
  /** Counts forget() calls: a read that saw one happen while it ran caches nothing. */
  private forgets = 0;

  constructor(
    private readonly tenants: TenantStore,
    private readonly clock: Clock,
    private readonly ttlMs = GENERATION_TTL_MS,
  ) {}

  /** The tenant's current generation; undefined when there is no such tenant. */
  async current(tenant: TenantId): Promise<string | undefined> {
    const hit = this.fresh(tenant);
    return hit ? hit.generation : this.read(tenant);
  }

  /** Whether `generation` is the tenant's current one (false when the tenant is gone). At most one read. */
  async isCurrent(tenant: TenantId, generation: string): Promise<boolean> {
    if (this.fresh(tenant)?.generation === generation) return true;
    return (await this.read(tenant)) === generation;
  }

  /** Drops what is known of the tenant: its next check reads storage. Called when it is created or deleted here. */
  forget(tenant: TenantId): void {
    this.cache.delete(tenant);
    // A read that started before the change may return what it replaced: it must not be kept.
    this.reading.delete(tenant);
    this.forgets++;
  }

  private fresh(tenant: TenantId): { generation: string | undefined } | undefined {
    const hit = this.cache.get(tenant);
    return hit && this.clock.now() - hit.readAt < this.ttlMs ? hit : undefined;
  }

  private read(tenant: TenantId): Promise<string | undefined> {
    const inFlight = this.reading.get(tenant);
    if (inFlight) return inFlight;
    const readAt = this.clock.now();
    const forgets = this.forgets;
    const pending: Promise<string | undefined> = this.tenants
      .getTenant(tenant)
      .then((found) => {
        const generation = found?.generation;
        if (forgets === this.forgets) {
          this.cache.delete(tenant);
          if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
          this.cache.set(tenant, { generation, readAt });
        }
        return generation;
      })
      .finally(() => {
        if (this.reading.get(tenant) === pending) this.reading.delete(tenant);
      });
    this.reading.set(tenant, pending);
    return pending;
  }
}
