import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MetadataStore, RepositoryName, Tag, TenantLimits, UploadSession } from "@stratus/core";
import { acme, blob, globex, limited, manifest, session } from "./metadata-records.ts";
import type { MetadataStoreFixture } from "./metadata-store.contract.ts";

// The MetadataStore's upload bounds (issue 10, item 4), against the port only, run on every adapter
// beside metadataStoreContract: each tenant's open sessions and staged bytes are counted exactly with
// the sessions, stored plus staged bytes stay within storedBytes, open sessions within
// uploadSessions, also under races, and a committing session's bytes count once.

const web = "acme/web" as RepositoryName;
const api = "acme/api" as RepositoryName;

/** Grows a session by `bytes` from its stored size, as core saves a chunk. */
async function grow(store: MetadataStore, s: UploadSession, bytes: number, limits?: TenantLimits) {
  const current = (await store.getUpload(s.id))!;
  return store.updateUpload({ ...current, size: current.size + bytes, updatedAt: current.updatedAt + 1 }, current.size, limits);
}

export function uploadUsageContract(name: string, make: () => Promise<MetadataStoreFixture>): void {
  describe(`${name} bounds uploads`, () => {
    let fixture: MetadataStoreFixture;
    let store: MetadataStore;
    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it("counts each tenant's open sessions and staged bytes with the sessions, exactly", async () => {
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 0 });
      const [a, b] = [session(), session()];
      expect(await store.createUpload(a)).toEqual({ ok: true });
      expect(await store.createUpload(b)).toEqual({ ok: true });
      expect(await store.createUpload(session({ tenant: globex, repository: "globex/app" as RepositoryName }))).toEqual({ ok: true });
      expect(await grow(store, a, 100)).toBe(true);
      expect(await grow(store, a, 50)).toBe(true);
      expect(await grow(store, b, 7)).toBe(true);
      await store.commitBlob(acme, web, blob("stored", 40));
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 2, stagedBytes: 157, storedBytes: 40 });
      expect(await store.uploadUsage(globex)).toEqual({ sessions: 1, stagedBytes: 0, storedBytes: 0 });
      // A stale update changes nothing, counters included.
      expect(await store.updateUpload({ ...a, size: 999 }, 0)).toBe(false);
      // Deleting counts out once, however often it is called.
      await store.deleteUpload(a.id);
      await store.deleteUpload(a.id);
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 7, storedBytes: 40 });
      await store.deleteUpload(b.id);
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 40 });
      // The other figures are not touched by sessions.
      expect(await store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: 40 });
    });

    it("refuses a session past uploadSessions, writing nothing, and takes one once another goes", async () => {
      const limits = limited({ uploadSessions: 2 });
      const [a, b, c] = [session(), session(), session()];
      expect(await store.createUpload(a, limits)).toEqual({ ok: true });
      expect(await store.createUpload(b, limits)).toEqual({ ok: true });
      expect(await store.createUpload(c, limits)).toEqual({ ok: false, limit: "uploadSessions", max: 2, usage: 2 });
      expect(await store.getUpload(c.id)).toBeUndefined();
      expect(await store.uploadUsage(acme)).toMatchObject({ sessions: 2 });
      // Another tenant, and no limits, are not concerned.
      expect(await store.createUpload(session({ tenant: globex }), limits)).toEqual({ ok: true });
      await store.deleteUpload(a.id);
      expect(await store.createUpload(c, limits)).toEqual({ ok: true });
      expect(await store.createUpload(session())).toEqual({ ok: true });
      expect(await store.uploadUsage(acme)).toMatchObject({ sessions: 3 });
    });

    it("lets exactly the sessions that fit open when many race for the last ones", async () => {
      const limits = limited({ uploadSessions: 5 });
      await store.createUpload(session(), limits);
      await store.createUpload(session(), limits);
      const racers = Array.from({ length: 12 }, () => session());
      const outcomes = await Promise.all(racers.map((s) => store.createUpload(s, limits)));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(3);
      for (const outcome of outcomes.filter((o) => !o.ok)) expect(outcome).toEqual({ ok: false, limit: "uploadSessions", max: 5, usage: 5 });
      const stored = await Promise.all(racers.map((s) => store.getUpload(s.id)));
      expect(stored.filter((s) => s !== undefined)).toHaveLength(3);
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 5, stagedBytes: 0, storedBytes: 0 });
    });

    it("refuses staging past storedBytes, counting stored and staged bytes, saving nothing", async () => {
      const limits = limited({ storedBytes: 1_000 });
      await store.commitBlob(acme, web, blob("stored", 600), limits);
      const [a, b] = [session(), session()];
      await store.createUpload(a, limits);
      await store.createUpload(b, limits);
      expect(await grow(store, a, 300, limits)).toBe(true);
      expect(await grow(store, b, 101, limits)).toEqual({ ok: false, limit: "storedBytes", max: 1_000, usage: 600, stagedBytes: 300 });
      expect((await store.getUpload(b.id))?.size).toBe(0);
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 2, stagedBytes: 300, storedBytes: 600 });
      // Exactly to the limit is allowed; after that nothing more, but a stale update is told it is stale.
      expect(await grow(store, b, 100, limits)).toBe(true);
      expect(await grow(store, a, 1, limits)).toMatchObject({ ok: false, limit: "storedBytes" });
      expect(await store.updateUpload({ ...a, size: 500 }, 0, limits)).toBe(false);
      // A blob or manifest the staged bytes leave no room for is refused too; a session going gives the room back.
      expect(await store.commitBlob(acme, api, blob("new", 1), limits)).toEqual({ ok: false, limit: "storedBytes", max: 1_000, usage: 600, stagedBytes: 400 });
      expect(await store.putManifest(acme, manifest(web, '{"m":1}'), ["v1" as Tag], limits)).toMatchObject({ ok: false, limit: "storedBytes", stagedBytes: 400 });
      await store.deleteUpload(a.id);
      expect(await store.commitBlob(acme, api, blob("new", 300), limits)).toEqual({ ok: true });
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 100, storedBytes: 900 });
    });

    it("turns a committing session's staged bytes into the blob's, counted once: a blob exactly filling the plan commits", async () => {
      const limits = limited({ storedBytes: 1_000 });
      await store.commitBlob(acme, web, blob("stored", 400), limits);
      const s = session();
      await store.createUpload(s, limits);
      expect(await grow(store, s, 600, limits)).toBe(true);
      expect(await store.commitBlob(acme, web, blob("filling", 600), limits, s.id)).toEqual({ ok: true });
      expect(await store.getUpload(s.id)).toBeUndefined();
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 1_000 });
      expect(await store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: 1_000 });

      // A session whose blob the tenant has already: the session goes, nothing is added.
      const again = session();
      await store.createUpload(again);
      await grow(store, again, 600);
      expect(await store.commitBlob(acme, api, blob("filling", 600), undefined, again.id)).toEqual({ ok: true });
      expect(await store.getUpload(again.id)).toBeUndefined();
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 1_000 });
    });

    it("keeps the session when the commit is refused", async () => {
      const limits = limited({ repositories: 1 });
      await store.commitBlob(acme, web, blob("first", 10), limits);
      const s = session({ repository: api });
      await store.createUpload(s, limits);
      await grow(store, s, 20, limits);
      expect(await store.commitBlob(acme, api, blob("second", 20), limits, s.id)).toEqual({ ok: false, limit: "repositories", max: 1, usage: 1 });
      expect((await store.getUpload(s.id))?.size).toBe(20);
      expect(await store.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 20, storedBytes: 10 });
    });

    it("never passes storedBytes when chunks and commits race for the last bytes, and counts exactly", async () => {
      const limits = limited({ storedBytes: 1_000 });
      await store.commitBlob(acme, web, blob("base", 300), limits);
      const sessions = Array.from({ length: 6 }, () => session());
      for (const s of sessions) await store.createUpload(s, limits);
      const outcomes = await Promise.all([
        ...sessions.map((s) => grow(store, s, 150, limits)),
        ...[0, 1, 2].map((i) => store.commitBlob(acme, web, blob(`race-${i}`, 150), limits)),
      ]);
      const won = outcomes.filter((o) => o === true || (typeof o === "object" && o.ok)).length;
      expect(won).toBe(4);
      const usage = await store.uploadUsage(acme);
      expect(usage.storedBytes + usage.stagedBytes).toBe(900);
      const sizes = await Promise.all(sessions.map(async (s) => (await store.getUpload(s.id))!.size));
      expect(usage.stagedBytes).toBe(sizes.reduce((a, b) => a + b, 0));
      expect(usage.sessions).toBe(6);
    });
  });
}
