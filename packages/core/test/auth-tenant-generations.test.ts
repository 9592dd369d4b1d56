import { describe, expect, it } from "vitest";
import { GENERATION_TTL_MS, newTenantGeneration, TenantGenerations } from "../src/auth/tenant-generations.ts";
import type { Tenant, TenantId, TenantStore } from "../src/ports.ts";
import { MemoryTenantStore } from "./admin-memory-stores.ts";

const acme = "acme" as TenantId;

/** A tenant store whose getTenant calls are counted, and can be held back to test reads in flight. */
function countingStore() {
  const store = new MemoryTenantStore();
  let reads = 0;
  let gate: Promise<void> | undefined;
  const counted: TenantStore = Object.assign(Object.create(store) as TenantStore, {
    async getTenant(id: TenantId): Promise<Tenant | undefined> {
      reads++;
      const found = await store.getTenant(id);
      await gate;
      return found;
    },
  });
  return {
    store,
    counted,
    reads: () => reads,
    hold(): () => void {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

const tenant = (generation: string): Tenant => ({ id: acme, plan: "default", createdAt: 1, generation });

describe("tenant generations", () => {
  it("are random and short", () => {
    const seen = new Set(Array.from({ length: 1000 }, newTenantGeneration));
    expect(seen.size).toBe(1000);
    for (const g of seen) expect(g).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it("reads a tenant once per TTL, and sees a deletion on another instance within it", async () => {
    let now = 0;
    const s = countingStore();
    await s.store.createTenant(tenant("g1"));
    const generations = new TenantGenerations(s.counted, { now: () => now });
    expect(await generations.isCurrent(acme, "g1")).toBe(true);
    now += GENERATION_TTL_MS - 1;
    expect(await generations.isCurrent(acme, "g1")).toBe(true);
    expect(s.reads()).toBe(1);

    // Deleted and created again elsewhere (another Lambda container's admin API): this instance
    // still trusts its copy until the TTL is up (the documented bound), then refuses.
    await s.store.deleteTenant(acme);
    await s.store.createTenant(tenant("g2"));
    expect(await generations.isCurrent(acme, "g1")).toBe(true);
    now += 1;
    expect(await generations.isCurrent(acme, "g1")).toBe(false);
    expect(s.reads()).toBe(2);
  });

  it("reads again before refusing a generation it has not seen: a new tenant's first token is not refused from the cache", async () => {
    const s = countingStore();
    const generations = new TenantGenerations(s.counted, { now: () => 0 });
    expect(await generations.current(acme)).toBeUndefined();
    await s.store.createTenant(tenant("g1"));
    expect(await generations.isCurrent(acme, "g1")).toBe(true);
    expect(s.reads()).toBe(2);
    // A wrong generation costs one read each time, never a refusal from a stale copy alone.
    expect(await generations.isCurrent(acme, "other")).toBe(false);
    expect(s.reads()).toBe(3);
  });

  it("forget() makes a deletion on this instance count at once, even with a read in flight", async () => {
    const s = countingStore();
    await s.store.createTenant(tenant("g1"));
    const generations = new TenantGenerations(s.counted, { now: () => 0 });
    expect(await generations.isCurrent(acme, "g1")).toBe(true);

    // A read that started before the deletion returns the old generation: it must not be kept.
    generations.forget(acme);
    const release = s.hold();
    const inFlight = generations.current(acme);
    await s.store.deleteTenant(acme);
    generations.forget(acme);
    release();
    expect(await inFlight).toBe("g1");
    expect(await generations.isCurrent(acme, "g1")).toBe(false);
  });

  it("shares one read among concurrent checks of a tenant", async () => {
    const s = countingStore();
    await s.store.createTenant(tenant("g1"));
    const generations = new TenantGenerations(s.counted, { now: () => 0 });
    const release = s.hold();
    const checks = Array.from({ length: 20 }, () => generations.isCurrent(acme, "g1"));
    release();
    expect(await Promise.all(checks)).toEqual(Array(20).fill(true));
    expect(s.reads()).toBe(1);
  });
});
