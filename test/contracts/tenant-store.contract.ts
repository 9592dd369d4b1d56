import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ApiKeyRecord, Plan, RepositoryName, Tenant, TenantId, TenantStore } from "@stratus/core";

// Every behaviour core relies on from a TenantStore (tenants, plans, API keys, repository visibility),
// written against the port only: SQLite runs it in `npm test`, DynamoDB Local in the AWS run.

export interface TenantStoreFixture {
  store: TenantStore;
  cleanup(): Promise<void>;
}

const acme = "acme" as TenantId;
const globex = "globex" as TenantId;
const repo = (name: string) => name as RepositoryName;
const UNLIMITED = Number.MAX_SAFE_INTEGER;

const tenant = (id: TenantId, extra: Partial<Tenant> = {}): Tenant => ({ id, plan: "default", createdAt: 1_000, generation: `g-${id}`, ...extra });

let keySeq = 0;
/** A key record with only the required fields; ids are unique per call, like the random ids core makes. */
function key(owner: TenantId, extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  keySeq++;
  return {
    id: `k${String(keySeq).padStart(6, "0")}${Math.random().toString(36).slice(2, 11)}`,
    tenant: owner,
    role: "pull",
    secretHash: "ab".repeat(32),
    createdAt: 1_000 + keySeq,
    ...extra,
  };
}

/** Every page of a listing, checking that no page is over its limit. */
async function allPages<T>(limit: number, list: (after: string | undefined) => Promise<{ items: T[]; more: boolean }>, idOf: (item: T) => string): Promise<T[]> {
  const items: T[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await list(after);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    if (!page.more) return items;
    expect(page.items.length).toBe(limit);
    after = idOf(page.items.at(-1)!);
  }
  throw new Error("listing never ended");
}

export function tenantStoreContract(name: string, make: () => Promise<TenantStoreFixture>): void {
  describe(`${name} satisfies TenantStore`, () => {
    let fixture: TenantStoreFixture;
    let store: TenantStore;
    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    describe("tenants", () => {
      it("creates a tenant and reads it back; an unknown one is undefined", async () => {
        expect(await store.getTenant(acme)).toBeUndefined();
        expect(await store.createTenant(tenant(acme, { plan: "pro", createdAt: 42, generation: "Xy_9-aBcDeFgHiJk" }))).toBe(true);
        expect(await store.getTenant(acme)).toStrictEqual({ id: acme, plan: "pro", createdAt: 42, generation: "Xy_9-aBcDeFgHiJk" });
        expect(await store.getTenant(globex)).toBeUndefined();
      });

      it("refuses a tenant that exists, keeping the first", async () => {
        expect(await store.createTenant(tenant(acme, { plan: "pro" }))).toBe(true);
        expect(await store.createTenant(tenant(acme, { plan: "free", createdAt: 9_999, generation: "another" }))).toBe(false);
        expect(await store.getTenant(acme)).toStrictEqual(tenant(acme, { plan: "pro" }));
      });

      it("lets exactly one of many concurrent creations of a tenant win", async () => {
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => store.createTenant(tenant(acme, { plan: `plan-${i}`, createdAt: i, generation: `g${i}` }))),
        );
        expect(results.filter((created) => created)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await store.getTenant(acme)).toStrictEqual(tenant(acme, { plan: `plan-${winner}`, createdAt: winner, generation: `g${winner}` }));
      });

      it("changes a tenant's plan; false for an unknown tenant, which stays unknown", async () => {
        await store.createTenant(tenant(acme));
        expect(await store.setTenantPlan(acme, "pro")).toBe(true);
        expect(await store.getTenant(acme)).toStrictEqual(tenant(acme, { plan: "pro" }));
        expect(await store.setTenantPlan(globex, "pro")).toBe(false);
        expect(await store.getTenant(globex)).toBeUndefined();
        expect((await store.listTenants({ limit: 10 })).items.map((t) => t.id)).toEqual([acme]);
      });

      it("lists tenants ordered by id, page by page", async () => {
        expect(await store.listTenants({ limit: 5 })).toEqual({ items: [], more: false });
        const ids = ["acme", "globex", "a", "acme-2", "initech", "b2", "zeta", "acme.x"];
        for (const [i, id] of ids.entries()) await store.createTenant(tenant(id as TenantId, { createdAt: i }));
        const sorted = [...ids].sort();
        const all = await store.listTenants({ limit: 100 });
        expect(all.more).toBe(false);
        expect(all.items.map((t) => t.id)).toEqual(sorted);
        expect(all.items.find((t) => t.id === "initech")).toStrictEqual(tenant("initech" as TenantId, { createdAt: 4 }));
        expect(await store.listTenants({ limit: ids.length })).toEqual({ items: all.items, more: false });
        expect((await allPages(3, (after) => store.listTenants(after === undefined ? { limit: 3 } : { limit: 3, after }), (t) => t.id)).map((t) => t.id)).toEqual(sorted);
        // `after` is exclusive and need not name a tenant.
        expect((await store.listTenants({ limit: 2, after: "acme" })).items.map((t) => t.id)).toEqual(["acme-2", "acme.x"]);
        expect(await store.listTenants({ limit: 2, after: "h" })).toEqual({ items: [tenant("initech" as TenantId, { createdAt: 4 }), tenant("zeta" as TenantId, { createdAt: 6 })], more: false });
        expect(await store.listTenants({ limit: 2, after: "zz" })).toEqual({ items: [], more: false });
      });

      it("deletes a tenant with its keys and visibility records, and nothing of other tenants", async () => {
        await store.createTenant(tenant(acme));
        await store.createTenant(tenant(globex));
        const acmeKeys = [key(acme), key(acme, { role: "admin" }), key(acme, { role: "push" })];
        const globexKey = key(globex);
        for (const k of [...acmeKeys, globexKey]) await store.createApiKey(k);
        await store.revokeApiKey(acme, acmeKeys[2]!.id, 5_000);
        await store.setVisibility(acme, repo("acme/web"), "public");
        await store.setVisibility(acme, repo("acme/api"), "public");
        await store.setVisibility(globex, repo("globex/app"), "public");

        expect(await store.deleteTenant(acme)).toBe(true);

        expect(await store.getTenant(acme)).toBeUndefined();
        for (const k of acmeKeys) expect(await store.getApiKey(k.id)).toBeUndefined();
        expect(await store.listApiKeys(acme)).toEqual([]);
        expect(await store.getVisibility(repo("acme/web"))).toBe("private");
        expect(await store.getVisibility(repo("acme/api"))).toBe("private");
        expect(await store.listPublicRepositories({ limit: 10 })).toEqual({ items: ["globex/app"], more: false });
        expect(await store.getTenant(globex)).toStrictEqual(tenant(globex));
        expect(await store.getApiKey(globexKey.id)).toStrictEqual(globexKey);
        expect((await store.listTenants({ limit: 10 })).items.map((t) => t.id)).toEqual([globex]);

        // Gone for good: a second delete finds nothing, and a new tenant of that id starts empty,
        // with the generation it was created with (not the deleted one's: tokens tell them apart).
        expect(await store.deleteTenant(acme)).toBe(false);
        expect(await store.createTenant(tenant(acme, { plan: "pro", generation: "second" }))).toBe(true);
        expect((await store.getTenant(acme))?.generation).toBe("second");
        expect((await store.listTenants({ limit: 10 })).items.find((t) => t.id === acme)?.generation).toBe("second");
        expect(await store.listApiKeys(acme)).toEqual([]);
        expect(await store.getVisibility(repo("acme/web"))).toBe("private");
      });

      it("deletes a tenant with many keys and public repositories", async () => {
        await store.createTenant(tenant(acme));
        const keys = Array.from({ length: 60 }, () => key(acme));
        await Promise.all(keys.map((k) => store.createApiKey(k)));
        await Promise.all(Array.from({ length: 60 }, (_, i) => store.setVisibility(acme, repo(`acme/r${i}`), "public")));
        expect(await store.listApiKeys(acme)).toHaveLength(60);
        expect(await store.deleteTenant(acme)).toBe(true);
        expect(await store.listApiKeys(acme)).toEqual([]);
        expect(await store.listPublicRepositories({ limit: 100 })).toEqual({ items: [], more: false });
        expect(await store.getApiKey(keys[37]!.id)).toBeUndefined();
      });

      it("answers false when deleting an unknown tenant", async () => {
        expect(await store.deleteTenant(acme)).toBe(false);
      });
    });

    describe("plans", () => {
      const free: Plan = { name: "free", limits: { repositories: 5, storedBytes: 500 * 1024 ** 2, manifestsPerRepository: 100, uploadSessions: 20 } };
      const pro: Plan = { name: "pro", limits: { repositories: 1_000, storedBytes: UNLIMITED, manifestsPerRepository: UNLIMITED, uploadSessions: UNLIMITED } };

      it("stores a plan and reads it back exactly; an unknown one is undefined", async () => {
        expect(await store.getPlan("pro")).toBeUndefined();
        await store.putPlan(pro);
        expect(await store.getPlan("pro")).toStrictEqual(pro);
        expect(await store.getPlan("free")).toBeUndefined();
      });

      it("replaces a plan of the same name", async () => {
        await store.putPlan(free);
        const bigger: Plan = { name: "free", limits: { ...free.limits, repositories: 10 } };
        await store.putPlan(bigger);
        expect(await store.getPlan("free")).toStrictEqual(bigger);
        expect(await store.listPlans()).toStrictEqual([bigger]);
      });

      it("lists every plan ordered by name", async () => {
        expect(await store.listPlans()).toEqual([]);
        const names = ["pro", "free", "default", "Enterprise", "basic", "pro-2"];
        for (const [i, planName] of names.entries()) await store.putPlan({ name: planName, limits: { ...free.limits, repositories: i } });
        const plans = await store.listPlans();
        expect(plans.map((p) => p.name)).toEqual([...names].sort());
        expect(plans.find((p) => p.name === "basic")).toStrictEqual({ name: "basic", limits: { ...free.limits, repositories: 4 } });
      });
    });

    describe("API keys", () => {
      it("stores a key with every field and reads it back exactly", async () => {
        const full = key(acme, {
          role: "admin",
          repositories: ["acme/web/*", "acme/api"],
          description: "CI pipeline of acme/web",
          createdAt: 1_700_000_000_000,
          lastUsedAt: 1_700_000_100_000,
          revokedAt: 1_700_000_200_000,
        });
        await store.createApiKey(full);
        expect(await store.getApiKey(full.id)).toStrictEqual(full);
        expect(await store.listApiKeys(acme)).toStrictEqual([full]);
      });

      it("leaves optional fields absent when they were absent", async () => {
        const bare = key(acme, { role: "push" });
        await store.createApiKey(bare);
        const read = await store.getApiKey(bare.id);
        expect(read).toStrictEqual(bare);
        expect(Object.keys(read!).sort()).toEqual(["createdAt", "id", "role", "secretHash", "tenant"]);
        expect(Object.keys((await store.listApiKeys(acme))[0]!).sort()).toEqual(["createdAt", "id", "role", "secretHash", "tenant"]);
      });

      it("keeps an empty repository list and an empty description as given", async () => {
        const k = key(acme, { repositories: [], description: "" });
        await store.createApiKey(k);
        expect(await store.getApiKey(k.id)).toStrictEqual(k);
      });

      it("answers undefined for an unknown key id", async () => {
        expect(await store.getApiKey("nosuchkeyid23456")).toBeUndefined();
      });

      it("refuses a second key with an id in use, keeping the first", async () => {
        const first = key(acme, { role: "pull" });
        await store.createApiKey(first);
        await expect(store.createApiKey({ ...first, tenant: globex, role: "admin" })).rejects.toThrow();
        expect(await store.getApiKey(first.id)).toStrictEqual(first);
        expect(await store.listApiKeys(globex)).toEqual([]);
      });

      it("lists a tenant's keys ordered by createdAt, revoked ones included, no other tenant's", async () => {
        expect(await store.listApiKeys(acme)).toEqual([]);
        const late = key(acme, { createdAt: 9_000 });
        const early = key(acme, { createdAt: 2_000, role: "delete" });
        const middle = key(acme, { createdAt: 5_000, repositories: ["acme/x"] });
        const other = key(globex, { createdAt: 3_000 });
        for (const k of [late, other, early, middle]) await store.createApiKey(k);
        expect(await store.revokeApiKey(acme, middle.id, 6_000)).toBe(true);
        expect(await store.listApiKeys(acme)).toStrictEqual([early, { ...middle, revokedAt: 6_000 }, late]);
        expect(await store.listApiKeys(globex)).toStrictEqual([other]);
        expect(await store.listApiKeys("initech" as TenantId)).toEqual([]);
      });

      it("revokes a key once: later revocations answer false and keep the first time", async () => {
        const k = key(acme);
        await store.createApiKey(k);
        expect(await store.revokeApiKey(acme, k.id, 5_000)).toBe(true);
        expect(await store.getApiKey(k.id)).toStrictEqual({ ...k, revokedAt: 5_000 });
        expect(await store.revokeApiKey(acme, k.id, 6_000)).toBe(false);
        expect(await store.getApiKey(k.id)).toStrictEqual({ ...k, revokedAt: 5_000 });
      });

      it("answers false when revoking an unknown key, creating nothing", async () => {
        expect(await store.revokeApiKey(acme, "nosuchkeyid23456", 5_000)).toBe(false);
        expect(await store.getApiKey("nosuchkeyid23456")).toBeUndefined();
        expect(await store.listApiKeys(acme)).toEqual([]);
      });

      it("does not let one tenant revoke another tenant's key", async () => {
        const k = key(acme, { role: "admin" });
        await store.createApiKey(k);
        expect(await store.revokeApiKey(globex, k.id, 5_000)).toBe(false);
        expect(await store.getApiKey(k.id)).toStrictEqual(k);
        expect(await store.listApiKeys(globex)).toEqual([]);
        expect(await store.revokeApiKey(acme, k.id, 5_000)).toBe(true);
      });

      it("lets exactly one of concurrent revocations win", async () => {
        const k = key(acme);
        await store.createApiKey(k);
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.revokeApiKey(acme, k.id, 5_000 + i)));
        expect(results.filter((revoked) => revoked)).toHaveLength(1);
        expect((await store.getApiKey(k.id))?.revokedAt).toBe(5_000 + results.indexOf(true));
      });

      it("records the last use, seen by get and list, and never moves it back", async () => {
        const k = key(acme);
        await store.createApiKey(k);
        await store.recordKeyUse(k.id, 7_000);
        expect(await store.getApiKey(k.id)).toStrictEqual({ ...k, lastUsedAt: 7_000 });
        expect(await store.listApiKeys(acme)).toStrictEqual([{ ...k, lastUsedAt: 7_000 }]);
        await store.recordKeyUse(k.id, 8_000);
        // A late report of an earlier use (another process) does not move it back.
        await store.recordKeyUse(k.id, 7_500);
        expect((await store.getApiKey(k.id))?.lastUsedAt).toBe(8_000);
        // A revoked key keeps its record of use.
        await store.revokeApiKey(acme, k.id, 9_000);
        expect(await store.getApiKey(k.id)).toStrictEqual({ ...k, lastUsedAt: 8_000, revokedAt: 9_000 });
      });

      it("ignores the use of an unknown key, creating nothing", async () => {
        await store.recordKeyUse("nosuchkeyid23456", 7_000);
        expect(await store.getApiKey("nosuchkeyid23456")).toBeUndefined();
      });
    });

    describe("visibility", () => {
      const web = repo("acme/web");

      it("answers private for a repository never made public", async () => {
        expect(await store.getVisibility(web)).toBe("private");
        expect(await store.listPublicRepositories({ limit: 10 })).toEqual({ items: [], more: false });
      });

      it("makes a repository public, then private again", async () => {
        await store.setVisibility(acme, web, "public");
        expect(await store.getVisibility(web)).toBe("public");
        expect(await store.getVisibility(repo("acme/web/sub"))).toBe("private");
        expect(await store.getVisibility(repo("acme/we"))).toBe("private");
        expect(await store.listPublicRepositories({ limit: 10 })).toEqual({ items: [web], more: false });
        // Idempotent both ways.
        await store.setVisibility(acme, web, "public");
        expect(await store.listPublicRepositories({ limit: 10 })).toEqual({ items: [web], more: false });
        await store.setVisibility(acme, web, "private");
        expect(await store.getVisibility(web)).toBe("private");
        await store.setVisibility(acme, web, "private");
        await store.setVisibility(acme, repo("acme/never"), "private");
        expect(await store.getVisibility(web)).toBe("private");
        expect(await store.listPublicRepositories({ limit: 10 })).toEqual({ items: [], more: false });
      });

      it("lists the public repositories of every tenant in lexical order, page by page", async () => {
        const names = ["acme/web", "globex/app", "acme/api", "acme/web/frontend", "acme/web-2", "initech/tps", "acme/a", "globex/app/x"];
        for (const name of names) await store.setVisibility(name.split("/")[0] as TenantId, repo(name), "public");
        await store.setVisibility(acme, repo("acme/private"), "private");
        await store.setVisibility(globex, repo("globex/hidden"), "public");
        await store.setVisibility(globex, repo("globex/hidden"), "private");
        const sorted = [...names].sort();
        expect(await store.listPublicRepositories({ limit: 100 })).toEqual({ items: sorted, more: false });
        expect(await store.listPublicRepositories({ limit: names.length })).toEqual({ items: sorted, more: false });
        const first = await store.listPublicRepositories({ limit: 3 });
        expect(first).toEqual({ items: sorted.slice(0, 3), more: true });
        expect(await allPages(3, (after) => store.listPublicRepositories(after === undefined ? { limit: 3 } : { limit: 3, after }), (name) => name)).toEqual(sorted);
        // `after` need not name a repository.
        expect(await store.listPublicRepositories({ limit: 2, after: "acme/b" })).toEqual({ items: ["acme/web", "acme/web-2"], more: true });
        expect(await store.listPublicRepositories({ limit: 5, after: "h" })).toEqual({ items: ["initech/tps"], more: false });
        expect(await store.listPublicRepositories({ limit: 5, after: "zzz" })).toEqual({ items: [], more: false });
      });

      it("keeps a repository's visibility apart from tenant records: no tenant needed, none created", async () => {
        await store.setVisibility(acme, web, "public");
        expect(await store.getTenant(acme)).toBeUndefined();
        expect(await store.listTenants({ limit: 10 })).toEqual({ items: [], more: false });
      });

      it("ends consistent when the same repository is made public and private concurrently", async () => {
        await Promise.all(Array.from({ length: 10 }, (_, i) => store.setVisibility(acme, web, i % 2 === 0 ? "public" : "private")));
        const visibility = await store.getVisibility(web);
        expect((await store.listPublicRepositories({ limit: 10 })).items).toEqual(visibility === "public" ? [web] : []);
        await store.setVisibility(acme, web, "public");
        expect(await store.getVisibility(web)).toBe("public");
        await store.setVisibility(acme, web, "private");
        expect(await store.listPublicRepositories({ limit: 10 })).toEqual({ items: [], more: false });
      });
    });
  });
}
