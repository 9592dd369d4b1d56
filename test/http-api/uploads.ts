import { randomUUID } from "node:crypto";
import { describe, expect } from "vitest";
import { it } from "./known-failures.ts";
import {
  describeFailure,
  digestOf,
  expectApiVersion,
  expectBytes,
  expectHeadError,
  expectOciError,
  interruptedPatch,
  randomBlob,
  sleep,
  streamedBody,
  uniqueName,
  withQuery,
  type Bytes,
  type RegistryClient,
  type StartDeployment,
} from "./client.ts";

const UPLOAD_PATH = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/;

async function expectBlob(client: RegistryClient, name: string, digest: string, bytes: Bytes): Promise<void> {
  const res = await client.fetch(`/v2/${name}/blobs/${digest}`);
  expect(res.status, await describeFailure(res)).toBe(200);
  expectBytes(await res.arrayBuffer(), bytes);
}

async function expectNoBlob(client: RegistryClient, name: string, digest: string): Promise<void> {
  await expectHeadError(await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "HEAD" }), 404);
}

/** PATCH of one chunk with Content-Range and Content-Length (end-5). */
function patchChunk(client: RegistryClient, upload: URL | string, bytes: Bytes, start: number): Promise<Response> {
  return client.fetch(upload.toString(), {
    method: "PATCH",
    headers: { "content-type": "application/octet-stream", "content-range": `${start}-${start + bytes.length - 1}` },
    body: bytes,
  });
}

// end-4a/4b (POST), end-5 (PATCH), end-6 (PUT), end-11 (mount), end-13 (GET status), DELETE of a session.
export function uploadTests(client: RegistryClient, start: StartDeployment): void {
  describe("upload sessions (end-4a, end-13, DELETE)", () => {
    it("POST answers 202 with Location, Docker-Upload-UUID, Range 0-0 and OCI-Chunk-Min-Length", async () => {
      const name = uniqueName("uploads");
      const res = await client.fetch(`/v2/${name}/blobs/uploads/`, { method: "POST" });
      expect(res.status).toBe(202);
      expectApiVersion(res);
      const location = client.location(res);
      const [, locName, id] = UPLOAD_PATH.exec(location.pathname) ?? [];
      expect(locName).toBe(name);
      expect(res.headers.get("docker-upload-uuid")).toBe(id);
      expect(res.headers.get("range")).toBe("0-0");
      expect(Number(res.headers.get("oci-chunk-min-length"))).toBeGreaterThan(0);
    });

    it("GET of a session answers 204 with Range and Location", async () => {
      const name = uniqueName("uploads");
      const upload = await client.startUpload(name);
      const empty = await client.fetch(upload.toString());
      expect(empty.status).toBe(204);
      expect(empty.headers.get("range")).toBe("0-0");
      expect(client.location(empty).pathname).toBe(upload.pathname);
      expect((await patchChunk(client, upload, randomBlob(10).bytes, 0)).status).toBe(202);
      const status = await client.fetch(upload.toString());
      expect(status.status).toBe(204);
      expect(status.headers.get("range")).toBe("0-9");
      expect(client.location(status).pathname).toBe(upload.pathname);
    });

    it("DELETE of a session answers 204, then the session is unknown", async () => {
      const name = uniqueName("uploads");
      const upload = await client.startUpload(name);
      await patchChunk(client, upload, randomBlob(10).bytes, 0);
      const res = await client.fetch(upload.toString(), { method: "DELETE" });
      expect(res.status).toBe(204);
      expectApiVersion(res);
      await expectOciError(await client.fetch(upload.toString()), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectOciError(await client.fetch(upload.toString(), { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectOciError(await patchChunk(client, upload, randomBlob(10).bytes, 10), 404, "BLOB_UPLOAD_UNKNOWN");
    });

    it("an unknown or garbage upload id is 404 BLOB_UPLOAD_UNKNOWN on every method", async () => {
      const name = uniqueName("uploads");
      for (const id of [randomUUID(), "not-a-session", "x".repeat(300)]) {
        const path = `/v2/${name}/blobs/uploads/${id}`;
        await expectOciError(await client.fetch(path), 404, "BLOB_UPLOAD_UNKNOWN");
        await expectOciError(await client.fetch(path, { method: "PATCH", body: "abc" }), 404, "BLOB_UPLOAD_UNKNOWN");
        await expectOciError(await client.fetch(`${path}?digest=${digestOf(new Uint8Array())}`, { method: "PUT" }), 404, "BLOB_UPLOAD_UNKNOWN");
        await expectOciError(await client.fetch(path, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
      }
    });

    it("a session used under another repository name is 404 BLOB_UPLOAD_UNKNOWN", async () => {
      const name = uniqueName("uploads");
      const other = uniqueName("uploads-other");
      const upload = await client.startUpload(name);
      const id = UPLOAD_PATH.exec(upload.pathname)![2]!;
      const path = `/v2/${other}/blobs/uploads/${id}`;
      await expectOciError(await client.fetch(path), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectOciError(await client.fetch(path, { method: "PATCH", body: "abc" }), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectOciError(await client.fetch(path, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
      // The session itself is untouched.
      expect((await client.fetch(upload.toString())).headers.get("range")).toBe("0-0");
    });

    it("an idle session expires: reads ignore it once the TTL has passed", async () => {
      const short = await start({ uploadTtlSeconds: 1 });
      try {
        const res = await fetch(`${short.url}/v2/${uniqueName("expiry")}/blobs/uploads/`, { method: "POST" });
        expect(res.status).toBe(202);
        const upload = new URL(res.headers.get("location")!, `${short.url}/`);
        await sleep(2200);
        await expectOciError(await fetch(upload), 404, "BLOB_UPLOAD_UNKNOWN");
      } finally {
        await short.close();
      }
    });
  });

  describe("monolithic uploads (end-4b)", () => {
    it("POST ?digest= with the body answers 201 with Location and Docker-Content-Digest", async () => {
      const name = uniqueName("monolithic");
      const { bytes, digest } = randomBlob(5000);
      const res = await client.fetch(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes });
      expect(res.status).toBe(201);
      expect(client.location(res).pathname).toBe(`/v2/${name}/blobs/${digest}`);
      expect(res.headers.get("docker-content-digest")).toBe(digest);
      await expectBlob(client, name, digest, bytes);
    });

    it("POST ?digest= with the wrong digest is 400 DIGEST_INVALID and leaves no blob", async () => {
      const name = uniqueName("monolithic");
      const { bytes, digest } = randomBlob(5000);
      const wrong = randomBlob(1).digest;
      await expectOciError(await client.fetch(`/v2/${name}/blobs/uploads/?digest=${wrong}`, { method: "POST", body: bytes }), 400, "DIGEST_INVALID");
      await expectNoBlob(client, name, wrong);
      await expectNoBlob(client, name, digest);
    });

    it("POST, then one PUT ?digest= with the whole blob answers 201 (containerd, oras, helm)", async () => {
      const name = uniqueName("monolithic");
      const { bytes, digest } = randomBlob(3000);
      const upload = await client.startUpload(name);
      const res = await client.fetch(withQuery(upload, { digest }), { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: bytes });
      expect(res.status, await describeFailure(res)).toBe(201);
      expect(client.location(res).pathname).toBe(`/v2/${name}/blobs/${digest}`);
      expect(res.headers.get("docker-content-digest")).toBe(digest);
      await expectBlob(client, name, digest, bytes);
      await expectOciError(await client.fetch(upload.toString()), 404, "BLOB_UPLOAD_UNKNOWN");
    });
  });

  describe("streamed and chunked uploads (end-5, end-6)", () => {
    it("a streamed PATCH without Content-Length answers 202 with Range 0-(n-1); PUT ?digest= finishes it", async () => {
      const name = uniqueName("streamed");
      const { bytes, digest } = randomBlob(200_000);
      const upload = await client.startUpload(name);
      const patch = await client.fetch(upload.toString(), {
        method: "PATCH",
        headers: { "content-type": "application/octet-stream" },
        ...streamedBody(bytes.slice(0, 1), bytes.slice(1, 70_000), bytes.slice(70_000)),
      } as RequestInit);
      expect(patch.status, await describeFailure(patch)).toBe(202);
      expect(patch.headers.get("range")).toBe(`0-${bytes.length - 1}`);
      expect(client.location(patch).pathname).toBe(upload.pathname);
      const put = await client.fetch(withQuery(client.location(patch), { digest }), { method: "PUT" });
      expect(put.status, await describeFailure(put)).toBe(201);
      expect(put.headers.get("docker-content-digest")).toBe(digest);
      await expectBlob(client, name, digest, bytes);
    });

    it("chunked PATCHes with Content-Range in order answer 202; PUT with a last chunk answers 201", async () => {
      const name = uniqueName("chunked");
      const { bytes, digest } = randomBlob(3000);
      let upload = await client.startUpload(name);
      for (const [from, to] of [[0, 1000], [1000, 2500]] as const) {
        const res = await patchChunk(client, upload, bytes.slice(from, to), from);
        expect(res.status, await describeFailure(res)).toBe(202);
        expect(res.headers.get("range")).toBe(`0-${to - 1}`);
        upload = client.location(res);
      }
      const put = await client.fetch(withQuery(upload, { digest }), { method: "PUT", body: bytes.slice(2500) });
      expect(put.status, await describeFailure(put)).toBe(201);
      await expectBlob(client, name, digest, bytes);
    });

    it("an out-of-order chunk is 416 with the Range of the upload as it is", async () => {
      const name = uniqueName("chunked");
      const { bytes, digest } = randomBlob(300);
      const upload = await client.startUpload(name);
      expect((await patchChunk(client, upload, bytes.slice(0, 100), 0)).status).toBe(202);
      for (const start of [50, 150, 0]) {
        const res = await patchChunk(client, upload, bytes.slice(100, 200), start);
        expect(res.headers.get("range")).toBe("0-99");
        await expectOciError(res, 416, "RANGE_INVALID");
      }
      // The refused chunks left nothing behind: the upload resumes at 100.
      expect((await patchChunk(client, upload, bytes.slice(100), 100)).status).toBe(202);
      expect((await client.fetch(withQuery(upload, { digest }), { method: "PUT" })).status).toBe(201);
      await expectBlob(client, name, digest, bytes);
    });

    it("a Content-Range whose length differs from Content-Length is 400 SIZE_INVALID", async () => {
      const name = uniqueName("chunked");
      const upload = await client.startUpload(name);
      const res = await client.fetch(upload.toString(), {
        method: "PATCH",
        headers: { "content-type": "application/octet-stream", "content-range": "0-99" },
        body: randomBlob(50).bytes,
      });
      await expectOciError(res, 400, "SIZE_INVALID");
      expect((await client.fetch(upload.toString())).headers.get("range")).toBe("0-0");
    });

    it("sha512: chunked PATCHes and PUT ?digest=sha512:… answer 201", async () => {
      const name = uniqueName("sha512");
      const { bytes, digest } = randomBlob(4000, "sha512");
      const upload = await client.startUpload(name);
      expect((await patchChunk(client, upload, bytes.slice(0, 1500), 0)).status).toBe(202);
      expect((await patchChunk(client, upload, bytes.slice(1500), 1500)).status).toBe(202);
      const put = await client.fetch(withQuery(upload, { digest }), { method: "PUT" });
      expect(put.status, await describeFailure(put)).toBe(201);
      expect(put.headers.get("docker-content-digest")).toBe(digest);
      await expectBlob(client, name, digest, bytes);
    });

    it("PUT with the wrong digest is 400 DIGEST_INVALID; the session is gone and no blob is left", async () => {
      const name = uniqueName("finish");
      const { bytes, digest } = randomBlob(1000);
      const wrong = randomBlob(1000).digest;
      const upload = await client.startUpload(name);
      expect((await patchChunk(client, upload, bytes, 0)).status).toBe(202);
      await expectOciError(await client.fetch(withQuery(upload, { digest: wrong }), { method: "PUT" }), 400, "DIGEST_INVALID");
      await expectOciError(await client.fetch(upload.toString()), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectNoBlob(client, name, wrong);
      await expectNoBlob(client, name, digest);
    });

    it("PUT without a digest, or with a malformed one, is 400 DIGEST_INVALID", async () => {
      const name = uniqueName("finish");
      const upload = await client.startUpload(name);
      await patchChunk(client, upload, randomBlob(10).bytes, 0);
      await expectOciError(await client.fetch(upload.toString(), { method: "PUT" }), 400, "DIGEST_INVALID");
      for (const digest of ["sha256:xyz", `md5:${"a".repeat(32)}`, `sha256:${"A".repeat(64)}`, "", "sha256:"]) {
        await expectOciError(await client.fetch(withQuery(upload, { digest }), { method: "PUT" }), 400, "DIGEST_INVALID");
      }
      for (const digest of ["sha256:xyz", `md5:${"a".repeat(32)}`, `sha256:${"A".repeat(64)}`]) {
        const res = await client.fetch(`/v2/${name}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { method: "POST", body: "abc" });
        await expectOciError(res, 400, "DIGEST_INVALID");
      }
    });

    it("an interrupted PATCH leaves the session; the client resumes from its Range and finishes", async () => {
      const name = uniqueName("resume");
      const { bytes, digest } = randomBlob(300_000);
      const upload = await client.startUpload(name);
      const sent = 120_000;
      await interruptedPatch(upload, bytes.slice(0, sent));

      // The server may still be winding the aborted request down: retry until the resume is accepted.
      let resumed: Response | undefined;
      for (let attempt = 0; attempt < 40 && resumed?.status !== 202; attempt++) {
        if (attempt > 0) await sleep(50);
        const status = await client.fetch(upload.toString());
        expect(status.status, await describeFailure(status)).toBe(204);
        const end = Number(/^0-(\d+)$/.exec(status.headers.get("range") ?? "")?.[1]);
        // "0-0" is an empty upload (as the CNCF registry answers); otherwise k = end + 1.
        const k = end === 0 ? 0 : end + 1;
        expect(k).toBeLessThanOrEqual(sent);
        resumed = await patchChunk(client, client.location(status), bytes.slice(k), k);
        if (resumed.status !== 202) await expectOciError(resumed, 416, "RANGE_INVALID");
      }
      expect(resumed?.status).toBe(202);
      expect(resumed!.headers.get("range")).toBe(`0-${bytes.length - 1}`);
      const put = await client.fetch(withQuery(upload, { digest }), { method: "PUT" });
      expect(put.status, await describeFailure(put)).toBe(201);
      await expectBlob(client, name, digest, bytes);
    });
  });

  describe("cross-repository mount (end-11)", () => {
    it("mount from a repository holding the blob answers 201; the blob is then readable", async () => {
      const from = uniqueName("mount-from");
      const to = uniqueName("mount-to");
      const { bytes, digest } = randomBlob(800);
      await client.pushBlob(from, bytes);
      const res = await client.fetch(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`, { method: "POST" });
      expect(res.status, await describeFailure(res)).toBe(201);
      expect(client.location(res).pathname).toBe(`/v2/${to}/blobs/${digest}`);
      expect(res.headers.get("docker-content-digest")).toBe(digest);
      await expectBlob(client, to, digest, bytes);
    });

    it("mount of a digest the source does not hold falls back to a 202 session", async () => {
      const from = uniqueName("mount-from");
      const to = uniqueName("mount-to");
      const other = uniqueName("mount-other");
      const { bytes, digest } = randomBlob(800);
      await client.pushBlob(other, bytes);
      await client.pushBlob(from, randomBlob(8).bytes);
      for (const [d, source] of [[randomBlob(8).digest, from], [digest, from], [digest, uniqueName("mount-none")]] as const) {
        const res = await client.fetch(`/v2/${to}/blobs/uploads/?mount=${d}&from=${source}`, { method: "POST" });
        expect(res.status, await describeFailure(res)).toBe(202);
        expect(client.location(res).pathname).toMatch(UPLOAD_PATH);
        expect(res.headers.get("docker-upload-uuid")).toBeTruthy();
        await expectNoBlob(client, to, d);
      }
      // The session it opened works as any other.
      const res = await client.fetch(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`, { method: "POST" });
      const put = await client.fetch(withQuery(client.location(res), { digest }), { method: "PUT", body: bytes });
      expect(put.status, await describeFailure(put)).toBe(201);
      await expectBlob(client, to, digest, bytes);
    });

    it("mount with a malformed digest is 400 DIGEST_INVALID", async () => {
      const from = uniqueName("mount-from");
      const to = uniqueName("mount-to");
      const res = await client.fetch(`/v2/${to}/blobs/uploads/?mount=sha256:xyz&from=${from}`, { method: "POST" });
      await expectOciError(res, 400, "DIGEST_INVALID");
    });
  });
}
