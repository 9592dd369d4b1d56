import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestOf } from "@stratus/core";
import type { BlobRecord, MetadataStore, QuotaOutcome } from "@stratus/core";
import { acme, blob, digest, globex, limited, manifest, OCI_MANIFEST, repo, session, tag } from "./metadata-records.ts";

// Every behaviour core relies on from a MetadataStore, written against the port only: SQLite runs it
// here, DynamoDB (Local) runs the very same suite.

export interface MetadataStoreFixture {
  store: MetadataStore;
  cleanup(): Promise<void>;
}

export function metadataStoreContract(name: string, make: () => Promise<MetadataStoreFixture>): void {
  describe(`${name} satisfies MetadataStore`, () => {
    let fixture: MetadataStoreFixture;
    let store: MetadataStore;
    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    describe("blobs", () => {
      const web = repo("acme/web");
      const api = repo("acme/api");

      it("commits a blob, linked to its repository only", async () => {
        const b = blob("layer");
        expect(await store.findBlob(acme, b.digest)).toBeUndefined();
        await store.commitBlob(acme, web, b);
        expect(await store.findBlob(acme, b.digest)).toEqual(b);
        expect(await store.findLinkedBlob(web, b.digest)).toEqual(b);
        expect(await store.findLinkedBlob(api, b.digest)).toBeUndefined();
      });

      it("keeps the location an adapter gave", async () => {
        const b: BlobRecord = { ...blob("located"), location: "somewhere/over/there" };
        await store.commitBlob(acme, web, b);
        expect(await store.findLinkedBlob(web, b.digest)).toEqual(b);
      });

      it("keeps the existing record when the blob is committed again", async () => {
        const b = blob("again");
        await store.commitBlob(acme, web, { ...b, location: "first" });
        await store.commitBlob(acme, api, { ...b, location: "second" });
        expect(await store.findBlob(acme, b.digest)).toEqual({ ...b, location: "first" });
        expect(await store.findLinkedBlob(api, b.digest)).toEqual({ ...b, location: "first" });
      });

      it("creates the repository on commit", async () => {
        expect(await store.repositoryExists(web)).toBe(false);
        await store.commitBlob(acme, web, blob("x"));
        expect(await store.repositoryExists(web)).toBe(true);
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: [web], more: false });
      });

      it("mounts a blob the tenant has into another repository", async () => {
        const b = blob("shared");
        await store.commitBlob(acme, web, b);
        expect(await store.linkBlob(acme, api, b.digest)).toEqual({ ok: true, blob: b });
        expect(await store.findLinkedBlob(api, b.digest)).toEqual(b);
        expect(await store.repositoryExists(api)).toBe(true);
        // Linking twice is harmless.
        expect(await store.linkBlob(acme, api, b.digest)).toEqual({ ok: true, blob: b });
      });

      it("refuses to link a digest the tenant does not have", async () => {
        expect(await store.linkBlob(acme, api, digest("nothing"))).toBeUndefined();
        expect(await store.findLinkedBlob(api, digest("nothing"))).toBeUndefined();
      });

      it("keeps tenants apart", async () => {
        const b = blob("tenant-owned");
        await store.commitBlob(acme, web, b);
        expect(await store.findBlob(globex, b.digest)).toBeUndefined();
        expect(await store.linkBlob(globex, repo("globex/app"), b.digest)).toBeUndefined();
        expect(await store.findLinkedBlob(repo("globex/app"), b.digest)).toBeUndefined();
        // The same digest in another tenant is another record.
        await store.commitBlob(globex, repo("globex/app"), { ...b, location: "theirs" });
        expect(await store.unlinkBlob(acme, web, b.digest)).toEqual({ unlinked: true, orphan: b });
        expect(await store.findBlob(globex, b.digest)).toEqual({ ...b, location: "theirs" });
      });

      it("reports an orphan only when the last link goes", async () => {
        const b = blob("twice-linked");
        await store.commitBlob(acme, web, b);
        await store.linkBlob(acme, api, b.digest);
        expect(await store.unlinkBlob(acme, web, b.digest)).toEqual({ unlinked: true });
        expect(await store.findLinkedBlob(web, b.digest)).toBeUndefined();
        expect(await store.findBlob(acme, b.digest)).toEqual(b);
        expect(await store.unlinkBlob(acme, web, b.digest)).toEqual({ unlinked: false });
        expect(await store.unlinkBlob(acme, api, b.digest)).toEqual({ unlinked: true, orphan: b });
        expect(await store.findBlob(acme, b.digest)).toBeUndefined();
        expect(await store.unlinkBlob(acme, api, b.digest)).toEqual({ unlinked: false });
      });
    });

    describe("upload sessions", () => {
      it("creates, reads, updates and deletes a session", async () => {
        const s = session({ staging: { parts: [{ n: 1, etag: "x" }] } });
        await store.createUpload(s);
        expect(await store.getUpload(s.id)).toEqual(s);
        const next = { ...s, size: 100, staging: { parts: [] }, updatedAt: 2_000 };
        expect(await store.updateUpload(next, 0)).toBe(true);
        expect(await store.getUpload(s.id)).toEqual(next);
        await store.deleteUpload(s.id);
        expect(await store.getUpload(s.id)).toBeUndefined();
        await store.deleteUpload(s.id);
      });

      it("keeps the hash state with the session, and drops it when an update omits it", async () => {
        const s = session({ hashState: "sha256:0:" + "A".repeat(43) + "=" });
        await store.createUpload(s);
        expect((await store.getUpload(s.id))?.hashState).toBe(s.hashState);
        const next = { ...s, size: 64, hashState: "sha256:64:" + "B".repeat(43) + "=", updatedAt: 2_000 };
        expect(await store.updateUpload(next, 0)).toBe(true);
        expect((await store.getUpload(s.id))?.hashState).toBe(next.hashState);
        const { hashState: _dropped, ...withoutState } = next;
        expect(await store.updateUpload({ ...withoutState, size: 70 }, 64)).toBe(true);
        expect((await store.getUpload(s.id))?.hashState).toBeUndefined();
      });

      it("refuses an update whose expected size is stale, changing nothing", async () => {
        const s = session();
        await store.createUpload(s);
        expect(await store.updateUpload({ ...s, size: 10, updatedAt: 2_000 }, 0)).toBe(true);
        expect(await store.updateUpload({ ...s, size: 20, staging: { lost: true }, updatedAt: 3_000 }, 0)).toBe(false);
        expect(await store.getUpload(s.id)).toEqual({ ...s, size: 10, updatedAt: 2_000 });
      });

      it("answers false when updating a session that is gone", async () => {
        const s = session();
        expect(await store.updateUpload({ ...s, size: 10 }, 0)).toBe(false);
        expect(await store.getUpload(s.id)).toBeUndefined();
      });

      it("lists idle sessions oldest first, at most limit", async () => {
        const sessions = [5_000, 1_000, 4_000, 2_000, 9_000].map((t) => session({ createdAt: t, updatedAt: t }));
        for (const s of sessions) await store.createUpload(s);
        const idle = await store.listIdleUploads(5_000, 10);
        expect(idle.map((s) => s.updatedAt)).toEqual([1_000, 2_000, 4_000]);
        expect(idle[0]).toEqual(sessions[1]);
        expect((await store.listIdleUploads(5_000, 2)).map((s) => s.updatedAt)).toEqual([1_000, 2_000]);
        expect(await store.listIdleUploads(1_000, 10)).toEqual([]);
      });
    });

    describe("manifests and tags", () => {
      const web = repo("acme/web");

      it("stores a manifest with tags and serves it by tag and by digest, byte for byte", async () => {
        // Whitespace and key order are part of the digest: the bytes must come back exactly.
        const m = manifest(web, '{ "schemaVersion":2,\n  "mediaType": "x" }\n');
        await store.putManifest(acme, m, [tag("v1"), tag("latest")]);
        const byTag = await store.getManifest(web, { kind: "tag", tag: tag("latest") });
        const byDigest = await store.getManifest(web, { kind: "digest", digest: m.digest });
        expect(byTag).toEqual(m);
        expect(byDigest).toEqual(m);
        expect(digestOf(byTag!.bytes)).toBe(m.digest);
        expect(await store.getManifest(web, { kind: "tag", tag: tag("v2") })).toBeUndefined();
        expect(await store.getManifest(repo("acme/other"), { kind: "digest", digest: m.digest })).toBeUndefined();
        expect(await store.repositoryExists(web)).toBe(true);
      });

      it("keeps subject, artifact type and annotations", async () => {
        const m = manifest(web, "sbom", { subject: digest("image"), artifactType: "application/spdx+json", annotations: { a: "1" } });
        await store.putManifest(acme, m, []);
        expect(await store.getManifest(web, { kind: "digest", digest: m.digest })).toEqual(m);
      });

      it("moves a tag when it is pushed again", async () => {
        const one = manifest(web, "one");
        const two = manifest(web, "two");
        await store.putManifest(acme, one, [tag("latest")]);
        await store.putManifest(acme, two, [tag("latest")]);
        expect((await store.getManifest(web, { kind: "tag", tag: tag("latest") }))?.digest).toBe(two.digest);
        expect(await store.getManifest(web, { kind: "digest", digest: one.digest })).toEqual(one);
      });

      it("keeps createdAt of the first push of a digest", async () => {
        const m = manifest(web, "same");
        await store.putManifest(acme, m, [tag("a")]);
        await store.putManifest(acme, { ...m, createdAt: 9_000 }, [tag("b")]);
        const stored = await store.getManifest(web, { kind: "tag", tag: tag("b") });
        expect(stored?.createdAt).toBe(1_000);
        expect((await store.getManifest(web, { kind: "tag", tag: tag("a") }))?.digest).toBe(m.digest);
      });

      it("deletes a manifest with every tag pointing at it", async () => {
        const m = manifest(web, "doomed");
        const other = manifest(web, "survivor");
        await store.putManifest(acme, m, [tag("a"), tag("b")]);
        await store.putManifest(acme, other, [tag("c")]);
        expect(await store.deleteManifest(web, m.digest)).toBe(true);
        expect(await store.getManifest(web, { kind: "digest", digest: m.digest })).toBeUndefined();
        expect(await store.getManifest(web, { kind: "tag", tag: tag("a") })).toBeUndefined();
        expect(await store.listTags(web, { limit: 10 })).toEqual({ items: ["c"], more: false });
        expect(await store.deleteManifest(web, m.digest)).toBe(false);
      });

      it("deletes a tag only", async () => {
        const m = manifest(web, "tagged");
        await store.putManifest(acme, m, [tag("a"), tag("b")]);
        expect(await store.deleteTag(web, tag("a"))).toBe(true);
        expect(await store.deleteTag(web, tag("a"))).toBe(false);
        expect(await store.getManifest(web, { kind: "digest", digest: m.digest })).toEqual(m);
        expect(await store.getManifest(web, { kind: "tag", tag: tag("b") })).toEqual(m);
      });

      it("lists tags in lexical order, page by page", async () => {
        const names = ["v1.10", "v1.2", "latest", "A", "_x", "v1.9", "b-1", "Z"];
        await store.putManifest(acme, manifest(web, "m"), names.map(tag));
        const sorted = [...names].sort();
        expect(await store.listTags(web, { limit: 100 })).toEqual({ items: sorted, more: false });
        expect(await store.listTags(web, { limit: names.length })).toEqual({ items: sorted, more: false });
        const pages: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listTags(web, after === undefined ? { limit: 3 } : { limit: 3, after });
          expect(page!.items.length).toBeLessThanOrEqual(3);
          pages.push(...page!.items);
          if (!page!.more) break;
          after = page!.items.at(-1);
        }
        expect(pages).toEqual(sorted);
        expect(await store.listTags(web, { limit: 2, after: "latest" })).toEqual({ items: sorted.slice(sorted.indexOf("latest") + 1, sorted.indexOf("latest") + 3), more: true });
        expect(await store.listTags(web, { limit: 5, after: "zzz" })).toEqual({ items: [], more: false });
      });

      it("answers undefined for the tags of an unknown repository, an empty page for a known one", async () => {
        expect(await store.listTags(repo("acme/nothing"), { limit: 10 })).toBeUndefined();
        await store.commitBlob(acme, web, blob("only-a-blob"));
        expect(await store.listTags(web, { limit: 10 })).toEqual({ items: [], more: false });
      });

      it("lists repositories in lexical order, page by page", async () => {
        const names = ["acme/web", "acme/api", "acme/web/frontend", "acme/web-2", "globex/app", "acme/a"];
        for (const name of names) await store.commitBlob(name.startsWith("acme") ? acme : globex, repo(name), blob(`b-${name}`));
        const sorted = [...names].sort();
        expect(await store.listRepositories({ limit: 100 })).toEqual({ items: sorted, more: false });
        const first = await store.listRepositories({ limit: 4 });
        expect(first).toEqual({ items: sorted.slice(0, 4), more: true });
        expect(await store.listRepositories({ limit: 4, after: first.items.at(-1)! })).toEqual({ items: sorted.slice(4), more: false });
        // `after` need not name a repository.
        expect(await store.listRepositories({ limit: 1, after: "acme/b" })).toEqual({ items: ["acme/web"], more: true });
      });

      it("lists the repositories starting with a prefix, page by page", async () => {
        const names = ["acme/web", "acme/api", "acme/web/frontend", "acme-corp/app", "acmex/app", "globex/app", "acme/a", "acme/z"];
        for (const name of names) await store.commitBlob(acme, repo(name), blob(`p-${name}`));
        const acmes = names.filter((n) => n.startsWith("acme/")).sort();
        expect(await store.listRepositories({ limit: 100 }, "acme/")).toEqual({ items: acmes, more: false });
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listRepositories(after === undefined ? { limit: 2 } : { limit: 2, after }, "acme/");
          expect(page.items.length).toBeLessThanOrEqual(2);
          seen.push(...page.items);
          if (!page.more) break;
          after = page.items.at(-1);
        }
        expect(seen).toEqual(acmes);
        expect(await store.listRepositories({ limit: acmes.length }, "acme/")).toEqual({ items: acmes, more: false });
        // `after` before the prefix starts at its beginning; one past it ends the listing.
        expect(await store.listRepositories({ limit: 2, after: "a" }, "acme/")).toEqual({ items: acmes.slice(0, 2), more: true });
        expect(await store.listRepositories({ limit: 2, after: "acme0" }, "acme/")).toEqual({ items: [], more: false });
        expect(await store.listRepositories({ limit: 10, after: "acme/b" }, "acme/")).toEqual({ items: ["acme/web", "acme/web/frontend", "acme/z"], more: false });
        expect(await store.listRepositories({ limit: 10 }, "initech/")).toEqual({ items: [], more: false });
        expect(await store.listRepositories({ limit: 10 }, "acme/web")).toEqual({ items: ["acme/web", "acme/web/frontend"], more: false });
      });

      it("lists a repository's manifests ordered by digest, with their current tags, sizes and creation times", async () => {
        const pushed = Array.from({ length: 5 }, (_, i) =>
          manifest(web, `{"listed":${i}}`, { createdAt: 1_000 + i, ...(i === 2 ? { artifactType: "application/spdx+json", subject: digest("img") } : {}) }),
        );
        for (const [i, m] of pushed.entries()) await store.putManifest(acme, m, i === 4 ? [] : [tag(`v${i}`), tag(`t${i}`)]);
        // A tag that moved on and a deleted tag are not listed with their old manifest.
        await store.putManifest(acme, pushed[1]!, [tag("t0")]);
        await store.deleteTag(web, tag("v3"));
        await store.putManifest(acme, manifest(repo("acme/api"), `{"elsewhere":1}`), [tag("v0")]);

        const tagsOf = (i: number) =>
          ({ 0: ["v0"], 1: ["t0", "t1", "v1"], 2: ["t2", "v2"], 3: ["t3"], 4: [] })[i]!;
        const expected = pushed
          .map((m, i) => ({
            digest: m.digest,
            mediaType: OCI_MANIFEST,
            size: m.bytes.byteLength,
            ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
            tags: tagsOf(i),
            createdAt: 1_000 + i,
          }))
          .sort((a, b) => (a.digest < b.digest ? -1 : 1));
        expect(await store.listManifests(web, { limit: 100 })).toEqual({ items: expected, more: false });
        const first = await store.listManifests(web, { limit: 2 });
        expect(first).toEqual({ items: expected.slice(0, 2), more: true });
        const second = await store.listManifests(web, { limit: 2, after: first.items[1]!.digest });
        expect(second).toEqual({ items: expected.slice(2, 4), more: true });
        expect(await store.listManifests(web, { limit: 2, after: second.items[1]!.digest })).toEqual({ items: expected.slice(4), more: false });
        expect(await store.listManifests(repo("acme/none"), { limit: 10 })).toEqual({ items: [], more: false });
      });

      it("lists the referrers of a subject, per repository, ordered by digest", async () => {
        const subject = digest("image");
        const sig = manifest(web, "signature", { subject, artifactType: "application/vnd.dev.cosign", annotations: { "org.example": "yes" } });
        const sbom = manifest(web, "sbom", { subject, mediaType: "application/vnd.oci.image.index.v1+json" });
        const unrelated = manifest(web, "unrelated", { subject: digest("other") });
        const elsewhere = manifest(repo("acme/api"), "elsewhere", { subject });
        for (const m of [sig, sbom, unrelated, elsewhere]) await store.putManifest(acme, m, []);
        await store.putManifest(acme, manifest(web, "plain"), [tag("latest")]);

        const referrers = await store.listReferrers(web, subject);
        const expected = [
          { digest: sig.digest, mediaType: OCI_MANIFEST, size: sig.bytes.byteLength, artifactType: "application/vnd.dev.cosign", annotations: { "org.example": "yes" } },
          { digest: sbom.digest, mediaType: "application/vnd.oci.image.index.v1+json", size: sbom.bytes.byteLength },
        ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
        expect(referrers).toEqual(expected);
        expect(await store.listReferrers(repo("acme/api"), subject)).toEqual([
          { digest: elsewhere.digest, mediaType: OCI_MANIFEST, size: elsewhere.bytes.byteLength },
        ]);
        expect(await store.listReferrers(repo("acme/none"), subject)).toEqual([]);

        await store.deleteManifest(web, sig.digest);
        expect((await store.listReferrers(web, subject)).map((r) => r.digest)).toEqual([sbom.digest]);
      });

      it("ends consistent when many pushes race for one tag", async () => {
        const pushed = Array.from({ length: 20 }, (_, i) => manifest(web, `racer-${i}`));
        await Promise.all(pushed.map((m) => store.putManifest(acme, m, [tag("latest"), tag(`only-${m.digest.slice(7, 15)}`)])));
        const winner = await store.getManifest(web, { kind: "tag", tag: tag("latest") });
        expect(pushed.map((m) => m.digest)).toContain(winner?.digest);
        expect(await store.getManifest(web, { kind: "digest", digest: winner!.digest })).toEqual(winner);
        for (const m of pushed) expect(await store.getManifest(web, { kind: "digest", digest: m.digest })).toEqual(m);
        expect((await store.listTags(web, { limit: 100 }))?.items).toHaveLength(21);
      });
    });

    describe("usage", () => {
      const web = repo("acme/web");
      const api = repo("acme/api");

      it("counts repositories and each distinct blob of a tenant once, plus manifests", async () => {
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 0, storedBytes: 0 });
        await store.commitBlob(acme, web, blob("layer-one", 100));
        await store.commitBlob(acme, api, blob("layer-one", 100));
        await store.linkBlob(acme, api, digest("layer-one"));
        await store.commitBlob(acme, api, blob("layer-two", 30));
        await store.commitBlob(globex, repo("globex/app"), blob("layer-one", 100));
        const m = manifest(web, '{"n":1}');
        await store.putManifest(acme, m, [tag("v1")]);
        await store.putManifest(acme, m, [tag("v2")]);
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 2, storedBytes: 130 + m.bytes.length });
        expect(await store.tenantUsage(globex)).toEqual({ repositories: 1, storedBytes: 100 });
        expect(await store.manifestCount(web)).toBe(1);
        expect(await store.manifestCount(api)).toBe(0);
        expect(await store.manifestCount(repo("acme/none"))).toBe(0);
      });

      it("gives room back when content is deleted", async () => {
        await store.commitBlob(acme, web, blob("layer-one", 100));
        const m = manifest(web, '{"n":2}');
        await store.putManifest(acme, m, [tag("v1")]);
        await store.deleteManifest(web, m.digest);
        expect(await store.manifestCount(web)).toBe(0);
        await store.unlinkBlob(acme, web, digest("layer-one"));
        expect((await store.tenantUsage(acme)).storedBytes).toBe(0);
      });

      it("stays exact when many commits of one blob and many manifests race", async () => {
        await Promise.all(Array.from({ length: 20 }, (_, i) => store.commitBlob(acme, repo(`acme/r${i % 4}`), blob("shared", 1000))));
        const manifests = Array.from({ length: 10 }, (_, i) => manifest(web, `{"race":${i}}`));
        await Promise.all(manifests.flatMap((m) => [store.putManifest(acme, m, [tag("latest")]), store.putManifest(acme, m, [])]));
        const manifestBytes = manifests.reduce((sum, m) => sum + m.bytes.length, 0);
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 5, storedBytes: 1000 + manifestBytes });
        expect(await store.manifestCount(web)).toBe(10);
      });
    });
    describe("deleting a repository", () => {
      const web = repo("acme/web");
      const api = repo("acme/api");

      /** acme/web with two tagged manifests (one a referrer of the other), a blob shared with acme/api and two only it links. */
      async function fill() {
        const shared = blob("shared-layer", 1_000);
        const own = [blob("own-layer", 300), blob("own-config", 20)];
        for (const b of [shared, ...own]) expect(await store.commitBlob(acme, web, b)).toEqual({ ok: true });
        expect(await store.linkBlob(acme, api, shared.digest)).toEqual({ ok: true, blob: shared });
        const image = manifest(web, '{"image":1}');
        const signature = manifest(web, '{"signature":1}', { subject: image.digest, artifactType: "application/example.sig" });
        await store.putManifest(acme, image, [tag("v1"), tag("latest")]);
        await store.putManifest(acme, signature, [tag("sig")]);
        await store.putManifest(acme, manifest(api, '{"api":1}'), [tag("v1")]);
        await store.commitBlob(globex, repo("globex/web"), shared);
        return { shared, own, image, signature };
      }

      it("deletes manifests, tags, referrers and links, gives back exactly its room and returns the blobs only it linked", async () => {
        const { shared, own, image, signature } = await fill();
        const before = await store.tenantUsage(acme);
        const globexBefore = await store.tenantUsage(globex);
        const result = await store.deleteRepository(acme, web);
        expect(result.deleted).toBe(true);
        expect([...result.orphans].sort((a, b) => (a.digest < b.digest ? -1 : 1))).toEqual([...own].sort((a, b) => (a.digest < b.digest ? -1 : 1)));
        const ownBytes = own.reduce((sum, b) => sum + b.size, 0);
        expect(await store.tenantUsage(acme)).toEqual({
          repositories: before.repositories - 1,
          storedBytes: before.storedBytes - ownBytes - image.bytes.byteLength - signature.bytes.byteLength,
        });
        expect(await store.tenantUsage(globex)).toEqual(globexBefore);

        expect(await store.repositoryExists(web)).toBe(false);
        expect(await store.listRepositories({ limit: 10 }, "acme/")).toEqual({ items: [api], more: false });
        expect(await store.listTags(web, { limit: 10 })).toBeUndefined();
        for (const t of ["v1", "latest", "sig"]) expect(await store.getManifest(web, { kind: "tag", tag: tag(t) })).toBeUndefined();
        for (const m of [image, signature]) expect(await store.getManifest(web, { kind: "digest", digest: m.digest })).toBeUndefined();
        expect(await store.listReferrers(web, image.digest)).toEqual([]);
        expect(await store.listManifests(web, { limit: 10 })).toEqual({ items: [], more: false });
        expect(await store.manifestCount(web)).toBe(0);
        for (const b of [shared, ...own]) expect(await store.findLinkedBlob(web, b.digest)).toBeUndefined();
        for (const b of own) expect(await store.findBlob(acme, b.digest)).toBeUndefined();
        // The blob acme/api links stays, readable there and counted once; so does everything of acme/api and of globex.
        expect(await store.findBlob(acme, shared.digest)).toEqual(shared);
        expect(await store.findLinkedBlob(api, shared.digest)).toEqual(shared);
        expect((await store.getManifest(api, { kind: "tag", tag: tag("v1") }))?.bytes).toEqual(manifest(api, '{"api":1}').bytes);
        expect(await store.findLinkedBlob(repo("globex/web"), shared.digest)).toEqual(shared);
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: shared.size + manifest(api, '{"api":1}').bytes.byteLength });
      });

      it("answers deleted false for an unknown repository, or another tenant's, changing nothing", async () => {
        await fill();
        const before = await store.tenantUsage(acme);
        expect(await store.deleteRepository(acme, repo("acme/none"))).toEqual({ deleted: false, orphans: [] });
        expect(await store.deleteRepository(globex, web)).toEqual({ deleted: false, orphans: [] });
        expect(await store.repositoryExists(web)).toBe(true);
        expect(await store.tenantUsage(acme)).toEqual(before);
        expect(await store.deleteRepository(acme, web)).toMatchObject({ deleted: true });
        expect(await store.deleteRepository(acme, web)).toEqual({ deleted: false, orphans: [] });
      });

      it("deletes an empty repository, and the last one of a tenant down to zero", async () => {
        await store.commitBlob(acme, web, blob("only", 5));
        expect(await store.unlinkBlob(acme, web, digest("only"))).toMatchObject({ unlinked: true });
        expect(await store.deleteRepository(acme, web)).toEqual({ deleted: true, orphans: [] });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 0, storedBytes: 0 });
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: [], more: false });
      });

      it("lets a tenant at its repository limit create another once one is deleted", async () => {
        const limits = limited({ repositories: 2 });
        await fill();
        expect(await store.commitBlob(acme, repo("acme/new"), blob("new", 7), limits)).toEqual({ ok: false, limit: "repositories", max: 2, usage: 2 });
        await store.deleteRepository(acme, web);
        expect(await store.commitBlob(acme, repo("acme/new"), blob("new", 7), limits)).toEqual({ ok: true });
        expect(await store.putManifest(acme, manifest(repo("acme/third"), "{}"), [], limits)).toEqual({ ok: false, limit: "repositories", max: 2, usage: 2 });
        expect((await store.tenantUsage(acme)).repositories).toBe(2);
      });

      it("takes a push into the deleted name again as a new repository, counted once", async () => {
        const { shared, own, image } = await fill();
        await store.deleteRepository(acme, web);
        const after = await store.tenantUsage(acme);
        // Blobs the tenant still has link without new bytes; the ones that went are new again.
        expect(await store.linkBlob(acme, web, shared.digest, limited({ repositories: 2 }))).toEqual({ ok: true, blob: shared });
        expect(await store.commitBlob(acme, web, own[0]!)).toEqual({ ok: true });
        expect(await store.putManifest(acme, image, [tag("v1")])).toEqual({ ok: true });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: after.repositories + 1, storedBytes: after.storedBytes + own[0]!.size + image.bytes.byteLength });
        expect(await store.manifestCount(web)).toBe(1);
        expect(await store.listTags(web, { limit: 10 })).toEqual({ items: ["v1"], more: false });
        expect((await store.getManifest(web, { kind: "tag", tag: tag("v1") }))?.createdAt).toBe(image.createdAt);
        expect(await store.findLinkedBlob(web, own[1]!.digest)).toBeUndefined();
        expect((await store.deleteRepository(acme, web)).orphans).toEqual([own[0]]);
        expect(await store.tenantUsage(acme)).toEqual(after);
      });

      it("deletes a repository of many manifests, tags and links", async () => {
        for (let i = 0; i < 60; i++) {
          await store.commitBlob(acme, web, blob(`many-${i}`, 10));
          await store.putManifest(acme, manifest(web, `{"many":${i}}`), [tag(`v${i}`), tag(`w${i}`)]);
        }
        const result = await store.deleteRepository(acme, web);
        expect(result.deleted).toBe(true);
        expect(result.orphans).toHaveLength(60);
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 0, storedBytes: 0 });
      });

      it("stays exact when pushes race the delete", async () => {
        await fill();
        const racers = Array.from({ length: 6 }, (_, i) => manifest(web, `{"racer":${i}}`));
        const [deleted] = await Promise.all([
          store.deleteRepository(acme, web),
          ...racers.map((m, i) => store.putManifest(acme, m, [tag(`r${i}`)])),
          ...racers.map((_, i) => store.commitBlob(acme, web, blob(`racer-blob-${i}`, 100))),
        ]);
        expect(deleted.deleted).toBe(true);
        // Whatever landed after the delete is a repository again, counted once, with exactly its content.
        const exists = await store.repositoryExists(web);
        const manifests = (await store.listManifests(web, { limit: 100 })).items;
        const linked = (await Promise.all(racers.map((_, i) => store.findLinkedBlob(web, digest(`racer-blob-${i}`))))).filter((b) => b !== undefined);
        const api1 = manifest(api, '{"api":1}').bytes.byteLength;
        const manifestBytes = manifests.reduce((sum, m) => sum + m.size, 0);
        expect(await store.tenantUsage(acme)).toEqual({
          repositories: exists ? 2 : 1,
          storedBytes: 1_000 + api1 + manifestBytes + linked.reduce((sum, b) => sum + b!.size, 0),
        });
        expect(await store.manifestCount(web)).toBe(manifests.length);
        if (!exists) expect(manifests.length + linked.length).toBe(0);
        // Orphans are only blobs that went: none of them is still recorded.
        for (const orphan of deleted.orphans) expect(await store.findBlob(acme, orphan.digest)).toBeUndefined();
      });
    });

    describe("quotas", () => {
      const web = repo("acme/web");
      const api = repo("acme/api");

      /** Everything a refusal must leave as it was. */
      async function snapshot() {
        return {
          usage: await store.tenantUsage(acme),
          repositories: await store.listRepositories({ limit: 100 }),
          webManifests: await store.manifestCount(web),
          apiManifests: await store.manifestCount(api),
        };
      }

      it("answers ok without limits, as before", async () => {
        expect(await store.commitBlob(acme, web, blob("free"))).toEqual({ ok: true });
        expect(await store.linkBlob(acme, api, digest("free"))).toEqual({ ok: true, blob: blob("free") });
        expect(await store.putManifest(acme, manifest(web, "free"), [tag("v1")])).toEqual({ ok: true });
      });

      it("refuses content that would create a repository past the limit, writing nothing", async () => {
        const limits = limited({ repositories: 1 });
        const a = blob("repo-a", 10);
        expect(await store.commitBlob(acme, web, a, limits)).toEqual({ ok: true });
        const before = await snapshot();
        const refusal = { ok: false, limit: "repositories", max: 1, usage: 1 };
        expect(await store.commitBlob(acme, api, blob("repo-b", 10), limits)).toEqual(refusal);
        // A blob the tenant has, committed or mounted into a new repository, is refused as well.
        expect(await store.commitBlob(acme, api, a, limits)).toEqual(refusal);
        expect(await store.linkBlob(acme, api, a.digest, limits)).toEqual(refusal);
        expect(await store.putManifest(acme, manifest(api, "repo-m"), [tag("v1")], limits)).toEqual(refusal);
        expect(await snapshot()).toEqual(before);
        expect(await store.repositoryExists(api)).toBe(false);
        expect(await store.findBlob(acme, digest("repo-b"))).toBeUndefined();
        expect(await store.findLinkedBlob(api, a.digest)).toBeUndefined();
        expect(await store.listTags(api, { limit: 10 })).toBeUndefined();
        // The repository the tenant has still takes content; another tenant is not concerned.
        expect(await store.commitBlob(acme, web, blob("repo-b", 10), limits)).toEqual({ ok: true });
        expect(await store.putManifest(acme, manifest(web, "repo-m"), [tag("v1")], limits)).toEqual({ ok: true });
        expect(await store.commitBlob(globex, repo("globex/app"), blob("repo-g"), limits)).toEqual({ ok: true });
        // Reaching the limit exactly is allowed.
        expect(await store.linkBlob(acme, api, a.digest, limited({ repositories: 2 }))).toEqual({ ok: true, blob: a });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 2, storedBytes: 20 + manifest(web, "repo-m").bytes.byteLength });
      });

      it("refuses a new blob past the stored bytes, never one the tenant has", async () => {
        const limits = limited({ storedBytes: 100 });
        expect(await store.commitBlob(acme, web, blob("bytes-a", 60), limits)).toEqual({ ok: true });
        const before = await snapshot();
        expect(await store.commitBlob(acme, web, blob("bytes-b", 41), limits)).toEqual({ ok: false, limit: "storedBytes", max: 100, usage: 60 });
        expect(await store.commitBlob(acme, api, blob("bytes-b", 41), limits)).toEqual({ ok: false, limit: "storedBytes", max: 100, usage: 60 });
        expect(await snapshot()).toEqual(before);
        expect(await store.findBlob(acme, digest("bytes-b"))).toBeUndefined();
        expect(await store.repositoryExists(api)).toBe(false);
        // Exactly to the limit is allowed; after that, blobs the tenant has still link anywhere.
        expect(await store.commitBlob(acme, web, blob("bytes-b", 40), limits)).toEqual({ ok: true });
        expect(await store.commitBlob(acme, api, blob("bytes-a", 60), limits)).toEqual({ ok: true });
        expect(await store.linkBlob(acme, repo("acme/third"), digest("bytes-b"), limits)).toEqual({ ok: true, blob: blob("bytes-b", 40) });
        expect(await store.commitBlob(acme, web, blob("bytes-b", 40), limits)).toEqual({ ok: true });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 3, storedBytes: 100 });
        // Another tenant's bytes are its own.
        expect(await store.commitBlob(globex, repo("globex/app"), blob("bytes-a", 60), limits)).toEqual({ ok: true });
      });

      it("refuses a manifest past the stored bytes, writing nothing", async () => {
        const m = manifest(web, '{"bytes":"manifest"}');
        const size = m.bytes.byteLength;
        const limits = limited({ storedBytes: 100 + size - 1 });
        expect(await store.commitBlob(acme, web, blob("under-manifest", 100), limits)).toEqual({ ok: true });
        const before = await snapshot();
        expect(await store.putManifest(acme, m, [tag("v1")], limits)).toEqual({ ok: false, limit: "storedBytes", max: 100 + size - 1, usage: 100 });
        expect(await snapshot()).toEqual(before);
        expect(await store.getManifest(web, { kind: "digest", digest: m.digest })).toBeUndefined();
        expect(await store.getManifest(web, { kind: "tag", tag: tag("v1") })).toBeUndefined();
        expect(await store.putManifest(acme, m, [tag("v1")], limited({ storedBytes: 100 + size }))).toEqual({ ok: true });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: 100 + size });
      });

      it("refuses manifests past the per-repository limit, never a re-push", async () => {
        const limits = limited({ manifestsPerRepository: 2 });
        const [m1, m2, m3] = [1, 2, 3].map((i) => manifest(web, `{"per-repo":${i}}`));
        expect(await store.putManifest(acme, m1!, [tag("v1")], limits)).toEqual({ ok: true });
        expect(await store.putManifest(acme, m2!, [tag("v2")], limits)).toEqual({ ok: true });
        const before = await snapshot();
        expect(await store.putManifest(acme, m3!, [tag("v3"), tag("v1")], limits)).toEqual({ ok: false, limit: "manifestsPerRepository", max: 2, usage: 2 });
        expect(await snapshot()).toEqual(before);
        expect(await store.getManifest(web, { kind: "digest", digest: m3!.digest })).toBeUndefined();
        expect(await store.getManifest(web, { kind: "tag", tag: tag("v3") })).toBeUndefined();
        expect((await store.getManifest(web, { kind: "tag", tag: tag("v1") }))?.digest).toBe(m1!.digest);
        // A re-push of a stored digest adds nothing: its tags move, nothing is refused.
        expect(await store.putManifest(acme, m1!, [tag("again")], limits)).toEqual({ ok: true });
        expect(await store.putManifest(acme, m2!, [], limits)).toEqual({ ok: true });
        expect((await store.getManifest(web, { kind: "tag", tag: tag("again") }))?.digest).toBe(m1!.digest);
        expect(await store.manifestCount(web)).toBe(2);
        // The limit is per repository; a new repository is created with its first manifest counted.
        expect(await store.putManifest(acme, { ...m3!, repository: api }, [tag("v3")], limits)).toEqual({ ok: true });
        expect(await store.manifestCount(api)).toBe(1);
        expect(await store.putManifest(acme, manifest(api, "none-allowed"), [], limited({ manifestsPerRepository: 1 }))).toEqual({
          ok: false, limit: "manifestsPerRepository", max: 1, usage: 1,
        });
      });

      it("gives the room back when content is deleted", async () => {
        const limits = limited({ storedBytes: 100, manifestsPerRepository: 1 });
        expect(await store.commitBlob(acme, web, blob("room-a", 100), limits)).toEqual({ ok: true });
        expect((await store.commitBlob(acme, web, blob("room-b", 1), limits)).ok).toBe(false);
        expect(await store.unlinkBlob(acme, web, digest("room-a"))).toEqual({ unlinked: true, orphan: blob("room-a", 100) });
        expect(await store.commitBlob(acme, web, blob("room-b", 1), limits)).toEqual({ ok: true });

        const [m1, m2] = [1, 2].map((i) => manifest(web, `{"room":${i}}`));
        expect(await store.putManifest(acme, m1!, [tag("latest")], limits)).toEqual({ ok: true });
        expect(await store.putManifest(acme, m2!, [tag("latest")], limits)).toEqual({ ok: false, limit: "manifestsPerRepository", max: 1, usage: 1 });
        expect(await store.deleteManifest(web, m1!.digest)).toBe(true);
        expect(await store.putManifest(acme, m2!, [tag("latest")], limits)).toEqual({ ok: true });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: 1 + m2!.bytes.byteLength });
      });

      it("lets exactly one of many racing commits take the last repository", async () => {
        await store.commitBlob(acme, web, blob("race-base", 5));
        const limits = limited({ repositories: 2 });
        const racers = Array.from({ length: 8 }, (_, i) => ({ repository: repo(`acme/race-${i}`), blob: blob(`race-${i}`, 10 + i) }));
        const outcomes = await Promise.all(racers.map((r) => store.commitBlob(acme, r.repository, r.blob, limits)));
        const winners = racers.filter((_, i) => outcomes[i]!.ok);
        expect(winners).toHaveLength(1);
        for (const outcome of outcomes.filter((o) => !o.ok)) expect(outcome).toEqual({ ok: false, limit: "repositories", max: 2, usage: 2 });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 2, storedBytes: 5 + winners[0]!.blob.size });
        expect(await store.listRepositories({ limit: 100 }, "acme/")).toEqual({ items: [web, winners[0]!.repository].sort(), more: false });
        for (const r of racers.filter((r) => r !== winners[0])) expect(await store.findBlob(acme, r.blob.digest)).toBeUndefined();
      });

      it("lets exactly one of many racing manifest pushes take the last repository", async () => {
        await store.commitBlob(acme, web, blob("race-base", 5));
        const limits = limited({ repositories: 2 });
        const pushed = Array.from({ length: 8 }, (_, i) => manifest(repo(`acme/race-${i}`), `{"race-repo":${i}}`));
        const outcomes = await Promise.all(pushed.map((m) => store.putManifest(acme, m, [tag("latest")], limits)));
        const winners = pushed.filter((_, i) => outcomes[i]!.ok);
        expect(winners).toHaveLength(1);
        for (const outcome of outcomes.filter((o) => !o.ok)) expect(outcome).toEqual({ ok: false, limit: "repositories", max: 2, usage: 2 });
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 2, storedBytes: 5 + winners[0]!.bytes.byteLength });
        expect(await store.manifestCount(winners[0]!.repository)).toBe(1);
        for (const m of pushed.filter((m) => m !== winners[0])) expect(await store.repositoryExists(m.repository)).toBe(false);
      });

      it("never passes the stored bytes when commits race for the last bytes", async () => {
        await store.commitBlob(acme, web, blob("bytes-base", 700));
        const limits = limited({ storedBytes: 1_000 });
        const racers = Array.from({ length: 8 }, (_, i) => blob(`bytes-race-${i}`, 100));
        const outcomes: QuotaOutcome[] = await Promise.all(racers.map((b, i) => store.commitBlob(acme, i % 2 ? web : api, b, limits)));
        expect(outcomes.filter((o) => o.ok)).toHaveLength(3);
        for (const outcome of outcomes.filter((o) => !o.ok)) expect(outcome).toEqual({ ok: false, limit: "storedBytes", max: 1_000, usage: 1_000 });
        expect((await store.tenantUsage(acme)).storedBytes).toBe(1_000);
        const stored = await Promise.all(racers.map((b) => store.findBlob(acme, b.digest)));
        expect(stored.filter((b) => b !== undefined)).toHaveLength(3);
      });

      it("fills a repository exactly to its manifest limit when pushes race", async () => {
        await store.putManifest(acme, manifest(web, '{"first":0}'), [tag("first")]);
        const limits = limited({ manifestsPerRepository: 3 });
        const pushed = Array.from({ length: 8 }, (_, i) => manifest(web, `{"race-manifest":${i}}`));
        const outcomes = await Promise.all(pushed.map((m, i) => store.putManifest(acme, m, [tag(`r${i}`)], limits)));
        expect(outcomes.filter((o) => o.ok)).toHaveLength(2);
        for (const outcome of outcomes.filter((o) => !o.ok)) expect(outcome).toEqual({ ok: false, limit: "manifestsPerRepository", max: 3, usage: 3 });
        expect(await store.manifestCount(web)).toBe(3);
        expect((await store.listTags(web, { limit: 100 }))?.items).toHaveLength(3);
        const winners = pushed.filter((_, i) => outcomes[i]!.ok);
        const manifestBytes = [manifest(web, '{"first":0}'), ...winners].reduce((sum, m) => sum + m.bytes.byteLength, 0);
        expect(await store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: manifestBytes });
      });
    });
  });
}
