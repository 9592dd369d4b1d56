import { describe, expect } from "vitest";
import { it } from "./known-failures.ts";
import {
  EMPTY_DIGEST,
  expectApiVersion,
  expectBytes,
  expectHeadError,
  expectOciError,
  randomBlob,
  uniqueName,
  type RegistryClient,
} from "./client.ts";

// end-2 (GET/HEAD blob, with Range) and end-10 (DELETE blob).
export function blobTests(client: RegistryClient): void {
  describe("blobs (end-2, end-10)", () => {
    it("HEAD answers 200 with Content-Length and Docker-Content-Digest, no body", async () => {
      const name = uniqueName("blobs");
      const { bytes, digest } = randomBlob(1000);
      await client.pushBlob(name, bytes);
      const res = await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "HEAD" });
      expect(res.status).toBe(200);
      expectApiVersion(res);
      expect(res.headers.get("content-length")).toBe("1000");
      expect(res.headers.get("docker-content-digest")).toBe(digest);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    });

    it("GET answers 200 with the bytes, or 307 to where they are", async () => {
      const name = uniqueName("blobs");
      const { bytes, digest } = randomBlob(70_000);
      await client.pushBlob(name, bytes);
      // The registry's own answer carries the digest; a deployment on S3 redirects to a presigned URL.
      const own = await client.fetch(`/v2/${name}/blobs/${digest}`, { redirect: "manual" });
      expect([200, 307]).toContain(own.status);
      expect(own.headers.get("docker-content-digest")).toBe(digest);
      await own.body?.cancel();
      const res = await client.fetch(`/v2/${name}/blobs/${digest}`);
      expect(res.status).toBe(200);
      expectBytes(await res.arrayBuffer(), bytes);
    });

    describe("Range", () => {
      const size = 100;
      const satisfiable: [string, number, number][] = [
        ["bytes=10-19", 10, 19],
        ["bytes=0-0", 0, 0],
        ["bytes=90-", 90, 99],
        ["bytes=-5", 95, 99],
        ["bytes=95-500", 95, 99],
        ["bytes=-500", 0, 99],
      ];
      for (const [range, start, end] of satisfiable) {
        it(`${range} answers 206 with Content-Range bytes ${start}-${end}/${size}`, async () => {
          const name = uniqueName("ranges");
          const { bytes, digest } = randomBlob(size);
          await client.pushBlob(name, bytes);
          const res = await client.fetch(`/v2/${name}/blobs/${digest}`, { headers: { range } });
          expect(res.status).toBe(206);
          expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${size}`);
          expectBytes(await res.arrayBuffer(), bytes.slice(start, end + 1));
        });
      }

      for (const range of ["bytes=100-", "bytes=100-200", "bytes=20-10", "bytes=-0", "bytes=abc", "lines=1-2", "bytes=0-1,5-6", "bytes=-"]) {
        it(`"${range}" answers 416 RANGE_INVALID with Content-Range bytes */${size}`, async () => {
          const name = uniqueName("ranges");
          const { bytes, digest } = randomBlob(size);
          await client.pushBlob(name, bytes);
          const res = await client.fetch(`/v2/${name}/blobs/${digest}`, { headers: { range } });
          expect(res.headers.get("content-range")).toBe(`bytes */${size}`);
          await expectOciError(res, 416, "RANGE_INVALID");
        });
      }
    });

    it("an unknown blob is 404 BLOB_UNKNOWN (HEAD: 404 without a body)", async () => {
      const name = uniqueName("blobs");
      const { digest } = randomBlob(10);
      await expectOciError(await client.fetch(`/v2/${name}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
      await expectHeadError(await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "HEAD" }), 404);
      // In a repository that exists, too.
      await client.pushBlob(name, randomBlob(10).bytes);
      await expectOciError(await client.fetch(`/v2/${name}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    });

    it("a blob linked only in repository A is BLOB_UNKNOWN in repository B", async () => {
      const a = uniqueName("blobs-a");
      const b = uniqueName("blobs-b");
      const { bytes, digest } = randomBlob(500);
      await client.pushBlob(a, bytes);
      await client.pushBlob(b, randomBlob(5).bytes);
      await expectOciError(await client.fetch(`/v2/${b}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
      await expectHeadError(await client.fetch(`/v2/${b}/blobs/${digest}`, { method: "HEAD" }), 404);
      expect((await client.fetch(`/v2/${a}/blobs/${digest}`, { method: "HEAD" })).status).toBe(200);
    });

    it("a malformed digest is 400 DIGEST_INVALID", async () => {
      const name = uniqueName("blobs");
      for (const digest of ["sha256:xyz", `md5:${"a".repeat(32)}`, `sha256:${"A".repeat(64)}`, `sha256:${"a".repeat(63)}`]) {
        await expectOciError(await client.fetch(`/v2/${name}/blobs/${digest}`), 400, "DIGEST_INVALID");
      }
    });

    it("a digest whose colon is percent-encoded (sha256%3A…) names the same blob and manifest, as Go registries read it", async () => {
      const name = uniqueName("blobs");
      const { bytes, digest } = randomBlob(200);
      await client.pushBlob(name, bytes);
      const encoded = digest.replace(":", "%3A");
      const get = await client.fetch(`/v2/${name}/blobs/${encoded}`, { redirect: "follow" });
      expect(get.status).toBe(200);
      expectBytes(await get.arrayBuffer(), bytes);
      const pushed = await client.pushImage(name, "v1");
      const manifest = await client.fetch(`/v2/${name}/manifests/${pushed.digest.replace(":", "%3a")}`, { method: "HEAD" });
      expect(manifest.status).toBe(200);
      expect(manifest.headers.get("docker-content-digest")).toBe(pushed.digest);
    });

    it("DELETE answers 202, then the blob is unknown", async () => {
      const name = uniqueName("blobs");
      const { bytes, digest } = randomBlob(300);
      await client.pushBlob(name, bytes);
      const res = await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "DELETE" });
      expect(res.status).toBe(202);
      expectApiVersion(res);
      await expectOciError(await client.fetch(`/v2/${name}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
      await expectHeadError(await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "HEAD" }), 404);
      await expectOciError(await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "DELETE" }), 404, "BLOB_UNKNOWN");
    });

    it("DELETE in one repository leaves the blob readable in another", async () => {
      const a = uniqueName("blobs-a");
      const b = uniqueName("blobs-b");
      const { bytes, digest } = randomBlob(300);
      await client.pushBlob(a, bytes);
      await client.pushBlob(b, bytes);
      expect((await client.fetch(`/v2/${a}/blobs/${digest}`, { method: "DELETE" })).status).toBe(202);
      const res = await client.fetch(`/v2/${b}/blobs/${digest}`);
      expect(res.status).toBe(200);
      expectBytes(await res.arrayBuffer(), bytes);
    });

    it("the empty descriptor blob {} is readable in any repository, never uploaded", async () => {
      const name = uniqueName("empty");
      const head = await client.fetch(`/v2/${name}/blobs/${EMPTY_DIGEST}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe("2");
      expect(head.headers.get("docker-content-digest")).toBe(EMPTY_DIGEST);
      const get = await client.fetch(`/v2/${name}/blobs/${EMPTY_DIGEST}`);
      expect(get.status).toBe(200);
      expect(await get.text()).toBe("{}");
      const range = await client.fetch(`/v2/${name}/blobs/${EMPTY_DIGEST}`, { headers: { range: "bytes=1-1" } });
      expect(range.status).toBe(206);
      expect(range.headers.get("content-range")).toBe("bytes 1-1/2");
      expect(await range.text()).toBe("}");
    });

    it("sha512 digests work for blobs", async () => {
      const name = uniqueName("sha512");
      const { bytes, digest } = randomBlob(2000, "sha512");
      expect(digest).toMatch(/^sha512:[0-9a-f]{128}$/);
      await client.pushBlob(name, bytes, digest);
      const head = await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("docker-content-digest")).toBe(digest);
      const get = await client.fetch(`/v2/${name}/blobs/${digest}`);
      expectBytes(await get.arrayBuffer(), bytes);
    });
  });
}
