import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";

// Minimal Distribution API client for setting up the load scenario and for the 1 GiB push.

const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function uploadUrl(origin: string, location: string | null, digest: string): string {
  if (!location) throw new Error("upload response has no Location");
  const url = new URL(location, origin);
  url.searchParams.set("digest", digest);
  return url.toString();
}

export async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} (expected ${status}): ${await res.text()}`);
}

/** Credentials for every request, as an Authorization header value; none on an open registry. */
const authHeaders = (authorization?: string): Record<string, string> => (authorization ? { authorization } : {});

/** Monolithic upload: POST, then PUT ?digest= with the bytes. */
export async function pushBlob(origin: string, repo: string, bytes: Uint8Array, authorization?: string): Promise<string> {
  const digest = sha256(bytes);
  const post = await fetch(`${origin}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: authHeaders(authorization) });
  await expectStatus(post, 202, "POST upload");
  await post.arrayBuffer();
  const put = await fetch(uploadUrl(origin, post.headers.get("location"), digest), {
    method: "PUT",
    headers: { ...authHeaders(authorization), "content-type": "application/octet-stream" },
    body: new Uint8Array(bytes), // a copy typed over a plain ArrayBuffer, as fetch's types want
  });
  await expectStatus(put, 201, "PUT blob");
  await put.arrayBuffer();
  return digest;
}

export interface SeededImage {
  repo: string;
  tag: string;
  manifestDigest: string;
  manifestSize: number;
  layerDigest: string;
}

export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

/** A small image (config + one 64 KiB layer + OCI manifest) for the request-rate scenario; `authorization` for multi-tenant mode. */
export async function seedImage(origin: string, repo = "bench/small", tag = "v1", authorization?: string): Promise<SeededImage> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const layer = randomBytes(64 * 1024);
  const configDigest = await pushBlob(origin, repo, config, authorization);
  const layerDigest = await pushBlob(origin, repo, layer, authorization);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layer.length }],
    }),
  );
  const res = await fetch(`${origin}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    headers: { ...authHeaders(authorization), "content-type": "application/vnd.oci.image.manifest.v1+json" },
    body: manifest,
  });
  await expectStatus(res, 201, "PUT manifest");
  await res.arrayBuffer();
  return { repo, tag, manifestDigest: sha256(manifest), manifestSize: manifest.length, layerDigest };
}

/** A blob of `totalBytes` made of one random chunk repeated: generated on the fly, never held whole. */
export interface StreamedBlob {
  chunk: Buffer;
  totalBytes: number;
  digest: string;
}

export function makeStreamedBlob(totalBytes: number, chunkBytes = 1024 * 1024): StreamedBlob {
  if (totalBytes % chunkBytes !== 0) throw new Error("totalBytes must be a multiple of chunkBytes");
  const chunk = randomBytes(chunkBytes);
  const hash = createHash("sha256");
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) hash.update(chunk);
  return { chunk, totalBytes, digest: `sha256:${hash.digest("hex")}` };
}

/** PATCH with a streamed body of `blob.totalBytes` (Content-Length set, as skopeo and crane do). */
async function streamPatch(url: string, blob: StreamedBlob): Promise<{ status: number; location: string | null; body: string }> {
  const req = httpRequest(url, {
    method: "PATCH",
    headers: { "content-type": "application/octet-stream", "content-length": String(blob.totalBytes) },
  });
  const response = new Promise<{ status: number; location: string | null; body: string }>((resolve, reject) => {
    req.once("error", reject);
    req.once("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.once("end", () => {
        const loc = res.headers.location;
        resolve({ status: res.statusCode ?? 0, location: typeof loc === "string" ? loc : null, body });
      });
      res.once("error", reject);
    });
  });
  // A failed request should reject `response`, not the write loop.
  response.catch(() => {});
  const writable = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        req.off("drain", done);
        req.off("close", done);
        resolve();
      };
      req.on("drain", done);
      req.on("close", done);
    });
  for (let sent = 0; sent < blob.totalBytes; sent += blob.chunk.length) {
    if (req.destroyed) break;
    if (!req.write(blob.chunk)) await writable();
  }
  req.end();
  return response;
}

export interface BigPushResult {
  seconds: number;
  mibPerSecond: number;
}

/** POST, one streamed PATCH with the whole blob, PUT ?digest=; then checks the blob's size with HEAD. */
export async function pushStreamedBlob(origin: string, repo: string, blob: StreamedBlob): Promise<BigPushResult> {
  const t0 = process.hrtime.bigint();
  const post = await fetch(`${origin}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await expectStatus(post, 202, "POST upload");
  await post.arrayBuffer();
  const location = post.headers.get("location");
  if (!location) throw new Error("POST upload: no Location");
  const patch = await streamPatch(new URL(location, origin).toString(), blob);
  if (patch.status !== 202) throw new Error(`PATCH: HTTP ${patch.status} (expected 202): ${patch.body}`);
  const put = await fetch(uploadUrl(origin, patch.location, blob.digest), { method: "PUT" });
  await expectStatus(put, 201, "PUT ?digest=");
  await put.arrayBuffer();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const head = await fetch(`${origin}/v2/${repo}/blobs/${blob.digest}`, { method: "HEAD" });
  if (head.status !== 200 || head.headers.get("content-length") !== String(blob.totalBytes)) {
    throw new Error(`HEAD after push: HTTP ${head.status}, content-length ${head.headers.get("content-length")}`);
  }
  return { seconds, mibPerSecond: blob.totalBytes / (1024 * 1024) / seconds };
}
