import { describe, expect } from "vitest";
import { it } from "./known-failures.ts";
import {
  EMPTY_DESCRIPTOR,
  OCI_INDEX,
  OCI_MANIFEST,
  digestOf,
  expectApiVersion,
  expectOciError,
  randomBlob,
  uniqueName,
  utf8,
  type RegistryClient,
} from "./client.ts";

/** The target of a Link: <...>; rel="next" header, or undefined. */
function nextLink(res: Response): string | undefined {
  const link = res.headers.get("link");
  if (link === null) return undefined;
  const m = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  expect(m, link).not.toBeNull();
  return m![1];
}

/** Tags every one of `tags` to one image (PUT by digest with ?tag=, then one more by tag). */
async function tagImage(client: RegistryClient, name: string, tags: string[]): Promise<void> {
  const image = await client.pushImage(name, tags[0]!);
  const query = tags.slice(1).map((t) => `tag=${t}`).join("&");
  if (query) await client.pushManifest(name, `${image.digest}?${query}`, image.bytes, OCI_MANIFEST);
}

// end-8a/8b (tags list), the _catalog extension, end-12 (referrers).
export function listingTests(client: RegistryClient): void {
  describe("tags list (end-8a, end-8b)", () => {
    const tags = ["v1.0", "latest", "B", "a_b", "v1.10", "v1.2", "0"];
    const sorted = [...tags].sort();

    it("GET tags/list answers {name, tags} in lexical order", async () => {
      const name = uniqueName("tags");
      await tagImage(client, name, tags);
      const res = await client.fetch(`/v2/${name}/tags/list`);
      expect(res.status).toBe(200);
      expectApiVersion(res);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.headers.get("link")).toBeNull();
      expect(await res.json()).toEqual({ name, tags: sorted });
    });

    it("an unknown repository is 404 NAME_UNKNOWN", async () => {
      const name = uniqueName("tags");
      await expectOciError(await client.fetch(`/v2/${name}/tags/list`), 404, "NAME_UNKNOWN");
      await expectOciError(await client.fetch(`/v2/${name}/tags/list?n=0`), 404, "NAME_UNKNOWN");
    });

    it("?n=2 answers 2 tags and a Link to the next page; following the Links pages through all", async () => {
      const name = uniqueName("tags");
      await tagImage(client, name, tags);
      const first = await client.fetch(`/v2/${name}/tags/list?n=2`);
      expect(first.status).toBe(200);
      expect(first.headers.get("link")).toBe(`</v2/${name}/tags/list?n=2&last=${sorted[1]}>; rel="next"`);
      const seen: string[] = [];
      let res: Response | undefined = first;
      for (let pages = 0; res; pages++) {
        expect(pages).toBeLessThan(tags.length);
        const body = (await res.json()) as { name: string; tags: string[] };
        expect(body.name).toBe(name);
        expect(body.tags.length).toBeLessThanOrEqual(2);
        seen.push(...body.tags);
        const next = nextLink(res);
        res = next === undefined ? undefined : await client.fetch(next);
        if (res) expect(res.status).toBe(200);
      }
      expect(seen).toEqual(sorted);
    });

    it("?last= starts after the given tag", async () => {
      const name = uniqueName("tags");
      await tagImage(client, name, tags);
      const res = await client.fetch(`/v2/${name}/tags/list?last=${sorted[3]}`);
      expect(((await res.json()) as { tags: string[] }).tags).toEqual(sorted.slice(4));
    });

    it("?n=0 answers an empty list", async () => {
      const name = uniqueName("tags");
      await tagImage(client, name, tags);
      const res = await client.fetch(`/v2/${name}/tags/list?n=0`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ name, tags: [] });
      expect(res.headers.get("link")).toBeNull();
    });

    it("?n that is not a count is 400 UNSUPPORTED", async () => {
      const name = uniqueName("tags");
      await tagImage(client, name, ["x"]);
      for (const n of ["abc", "-1", "1.5"]) {
        await expectOciError(await client.fetch(`/v2/${name}/tags/list?n=${n}`), 400, "UNSUPPORTED");
      }
    });
  });

  describe("catalog (_catalog)", () => {
    it("lists repositories once something is pushed, paged with n and last", async () => {
      const prefix = uniqueName("catalog");
      const repos = [`${prefix}/c`, `${prefix}/a`, `${prefix}/b`];
      // Before any push the repositories are not listed.
      const before = (await (await client.fetch(`/v2/_catalog?last=${prefix}`)).json()) as { repositories: string[] };
      expect(before.repositories.filter((r) => r.startsWith(`${prefix}/`))).toEqual([]);
      for (const repo of repos) await client.pushBlob(repo, randomBlob(8).bytes);

      // "last" need not name a repository: start just before ours and page through them.
      const first = await client.fetch(`/v2/_catalog?n=2&last=${prefix}`);
      expect(first.status).toBe(200);
      expectApiVersion(first);
      expect(await first.json()).toEqual({ repositories: [`${prefix}/a`, `${prefix}/b`] });
      const next = nextLink(first);
      expect(next).toBeDefined();
      const nextUrl = new URL(next!, "http://registry.test");
      expect(nextUrl.pathname).toBe("/v2/_catalog");
      expect(nextUrl.searchParams.get("n")).toBe("2");
      expect(nextUrl.searchParams.get("last")).toBe(`${prefix}/b`);
      const second = (await (await client.fetch(next!)).json()) as { repositories: string[] };
      expect(second.repositories[0]).toBe(`${prefix}/c`);
      expect(second.repositories.length).toBeLessThanOrEqual(2);
    });

    it("?n=0 answers an empty list; ?n=abc is 400 UNSUPPORTED", async () => {
      const res = await client.fetch("/v2/_catalog?n=0");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ repositories: [] });
      await expectOciError(await client.fetch("/v2/_catalog?n=abc"), 400, "UNSUPPORTED");
    });

    it("without n, answers repositories in lexical order", async () => {
      const prefix = uniqueName("catalog");
      for (const repo of [`${prefix}/z`, `${prefix}/m`]) await client.pushBlob(repo, randomBlob(8).bytes);
      const res = await client.fetch(`/v2/_catalog?last=${prefix}`);
      const { repositories } = (await res.json()) as { repositories: string[] };
      expect(repositories.slice(0, 2)).toEqual([`${prefix}/m`, `${prefix}/z`]);
      expect(repositories).toEqual([...repositories].sort());
    });
  });

  describe("referrers (end-12)", () => {
    async function pushReferrer(name: string, subject: { mediaType: string; digest: string; size: number }, artifactType: string | undefined, annotations?: Record<string, string>) {
      const layer = await client.pushDescriptor(name, "application/octet-stream", randomBlob(16).bytes);
      const config = artifactType ? EMPTY_DESCRIPTOR : await client.pushDescriptor(name, "application/vnd.example.config.v1+json", utf8("{\"a\":1}"));
      const manifest = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        ...(artifactType ? { artifactType } : {}),
        config,
        layers: [layer],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        ...(annotations ? { annotations } : {}),
      };
      return client.pushManifest(name, digestOf(utf8(JSON.stringify(manifest))), manifest, OCI_MANIFEST);
    }

    it("answers an index of the manifests whose subject is the digest", async () => {
      const name = uniqueName("referrers");
      const image = await client.pushImage(name, "v1");
      const sbom = await pushReferrer(name, image, "application/vnd.example.sbom.v1", { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" });
      const sig = await pushReferrer(name, image, "application/vnd.example.signature.v1");
      // Without artifactType, the config's media type stands for it (image-spec, distribution-spec end-12).
      const plain = await pushReferrer(name, image, undefined);
      await client.pushImage(name, "unrelated");

      const res = await client.fetch(`/v2/${name}/referrers/${image.digest}`);
      expect(res.status).toBe(200);
      expectApiVersion(res);
      expect(res.headers.get("content-type")).toBe(OCI_INDEX);
      expect(res.headers.get("oci-filters-applied")).toBeNull();
      const index = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: Record<string, unknown>[] };
      expect(index.schemaVersion).toBe(2);
      expect(index.mediaType).toBe(OCI_INDEX);
      const byDigest = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.digest).localeCompare(String(b.digest));
      expect([...index.manifests].sort(byDigest)).toEqual(
        [
          { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.size, artifactType: "application/vnd.example.sbom.v1", annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" } },
          { mediaType: OCI_MANIFEST, digest: sig.digest, size: sig.size, artifactType: "application/vnd.example.signature.v1" },
          { mediaType: OCI_MANIFEST, digest: plain.digest, size: plain.size, artifactType: "application/vnd.example.config.v1+json" },
        ].sort(byDigest),
      );
    });

    it("?artifactType= filters and answers OCI-Filters-Applied: artifactType", async () => {
      const name = uniqueName("referrers");
      const image = await client.pushImage(name, "v1");
      const sbom = await pushReferrer(name, image, "application/vnd.example.sbom.v1");
      await pushReferrer(name, image, "application/vnd.example.signature.v1");
      const res = await client.fetch(`/v2/${name}/referrers/${image.digest}?artifactType=${encodeURIComponent("application/vnd.example.sbom.v1")}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("oci-filters-applied")).toBe("artifactType");
      const index = (await res.json()) as { manifests: { digest: string }[] };
      expect(index.manifests.map((m) => m.digest)).toEqual([sbom.digest]);
      const none = await client.fetch(`/v2/${name}/referrers/${image.digest}?artifactType=application/vnd.example.none`);
      expect(none.headers.get("oci-filters-applied")).toBe("artifactType");
      expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    });

    it("referrers of a subject that was never pushed are listed", async () => {
      const name = uniqueName("referrers");
      const subject = { mediaType: OCI_MANIFEST, digest: randomBlob(9).digest, size: 9 };
      const sig = await pushReferrer(name, subject, "application/vnd.example.signature.v1");
      const index = (await (await client.fetch(`/v2/${name}/referrers/${subject.digest}`)).json()) as { manifests: { digest: string }[] };
      expect(index.manifests.map((m) => m.digest)).toEqual([sig.digest]);
    });

    it("a digest without referrers, in a known or an unknown repository, answers 200 with no manifests", async () => {
      const name = uniqueName("referrers");
      const image = await client.pushImage(name, "v1");
      for (const path of [`/v2/${name}/referrers/${image.digest}`, `/v2/${uniqueName("referrers-none")}/referrers/${randomBlob(3).digest}`]) {
        const res = await client.fetch(path);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe(OCI_INDEX);
        expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
      }
    });

    it("a malformed digest is 400 DIGEST_INVALID", async () => {
      const name = uniqueName("referrers");
      for (const digest of ["sha256:xyz", "latest", `sha256:${"A".repeat(64)}`]) {
        await expectOciError(await client.fetch(`/v2/${name}/referrers/${digest}`), 400, "DIGEST_INVALID");
      }
    });
  });
}
