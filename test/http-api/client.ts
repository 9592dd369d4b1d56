import { createHash, randomBytes as cryptoRandomBytes } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { expect } from "vitest";

// Small helpers shared by the HTTP API suite. Everything goes over real HTTP to a deployment's base
// URL; nothing here knows which deployment it is (local server, Lambda behind an API Gateway emulation).

export interface Deployment {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:5000. */
  url: string;
  close(): Promise<void>;
}

/** Settings a deployment must honour when the suite asks for them (the expiry test needs a short TTL). */
export interface StartOptions {
  uploadTtlSeconds?: number;
}

export type StartDeployment = (options?: StartOptions) => Promise<Deployment>;

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** image-spec "Guidance for an Empty Descriptor": the two bytes "{}". */
export const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
export const EMPTY_DESCRIPTOR = { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 } as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [field: string]: unknown;
}

/** Bytes backed by a plain ArrayBuffer, as fetch bodies must be. */
export type Bytes = Uint8Array<ArrayBuffer>;

export function digestOf(bytes: Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

export function randomBlob(size: number, algorithm: "sha256" | "sha512" = "sha256"): { bytes: Bytes; digest: string } {
  const bytes = new Uint8Array(cryptoRandomBytes(size));
  return { bytes, digest: digestOf(bytes, algorithm) };
}

export function utf8(text: string): Bytes {
  return new TextEncoder().encode(text);
}

let counter = 0;
/** A repository name no other test (nor an earlier run against a persistent deployment) uses. */
export function uniqueName(area: string): string {
  counter += 1;
  return `http-api/${area}-${counter}-${cryptoRandomBytes(4).toString("hex")}`;
}

/** A manifest as sent: bytes as given, a string as UTF-8, anything else as compact JSON. */
export function manifestBytes(body: unknown): Bytes {
  if (body instanceof Uint8Array) return body as Bytes;
  return utf8(typeof body === "string" ? body : JSON.stringify(body));
}

/** A body sent without Content-Length (Transfer-Encoding: chunked), split into the given parts. */
export function streamedBody(...parts: Uint8Array[]): { body: ReadableStream<Uint8Array>; duplex: "half" } {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
  return { body, duplex: "half" };
}

/** The registry under test, addressed by paths ("/v2/...") or by URLs it handed out (Location). */
export class RegistryClient {
  url = "";

  resolve(pathOrUrl: string): string {
    return new URL(pathOrUrl, `${this.url}/`).toString();
  }

  fetch(pathOrUrl: string, init: RequestInit = {}): Promise<Response> {
    return fetch(this.resolve(pathOrUrl), init);
  }

  /** Where the response's Location points, resolved against the registry (it may be relative). */
  location(response: Response): URL {
    const value = response.headers.get("location");
    expect(value, "Location header").toBeTruthy();
    return new URL(value!, `${this.url}/`);
  }

  /** Monolithic upload (POST ?digest=, end-4b); expects 201. */
  async pushBlob(name: string, bytes: Bytes, digest = digestOf(bytes)): Promise<string> {
    const res = await this.fetch(`/v2/${name}/blobs/uploads/?digest=${digest}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });
    expect(res.status, await describeFailure(res)).toBe(201);
    return digest;
  }

  /** Pushes the bytes as a blob and returns its descriptor. */
  async pushDescriptor(name: string, mediaType: string, bytes: Bytes): Promise<Descriptor> {
    return { mediaType, digest: await this.pushBlob(name, bytes), size: bytes.length };
  }

  /** PUT of a manifest (end-7); the raw response, for tests of refusals. */
  putManifest(name: string, reference: string, body: unknown, mediaType: string): Promise<Response> {
    const bytes = manifestBytes(body);
    return this.fetch(`/v2/${name}/manifests/${reference}`, { method: "PUT", headers: { "content-type": mediaType }, body: bytes });
  }

  /** PUT of a manifest that must succeed; returns its digest, size and exact bytes. */
  async pushManifest(name: string, reference: string, body: unknown, mediaType: string): Promise<Descriptor & { bytes: Bytes }> {
    const bytes = manifestBytes(body);
    const res = await this.putManifest(name, reference, bytes, mediaType);
    expect(res.status, await describeFailure(res)).toBe(201);
    const digest = digestOf(bytes);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    return { mediaType, digest, size: bytes.length, bytes };
  }

  /** Config and one layer pushed, then an OCI image manifest; returns the manifest's descriptor. */
  async pushImage(name: string, reference: string): Promise<Descriptor & { bytes: Bytes }> {
    const config = await this.pushDescriptor(name, OCI_CONFIG, utf8(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, n: Math.random() })));
    const layer = await this.pushDescriptor(name, OCI_LAYER, randomBlob(64).bytes);
    return this.pushManifest(name, reference, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }, OCI_MANIFEST);
  }

  /** Starts an upload session (end-4a); returns its URL from Location. */
  async startUpload(name: string): Promise<URL> {
    const res = await this.fetch(`/v2/${name}/blobs/uploads/`, { method: "POST" });
    expect(res.status, await describeFailure(res)).toBe(202);
    return this.location(res);
  }
}

/** For assertion messages: the status and body of an unexpected response (reads a clone). */
export async function describeFailure(res: Response): Promise<string> {
  if (res.status < 400) return `HTTP ${res.status}`;
  return `HTTP ${res.status}: ${await res.clone().text()}`;
}

/** Adds a query parameter to a URL the registry handed out (it may carry its own query). */
export function withQuery(url: URL, params: Record<string, string>): string {
  const copy = new URL(url);
  for (const [key, value] of Object.entries(params)) copy.searchParams.append(key, value);
  return copy.toString();
}

/** Byte-for-byte equality; toEqual walks large arrays element by element and takes seconds. */
export function expectBytes(actual: ArrayBuffer | Uint8Array, expected: Uint8Array): void {
  const view = (b: ArrayBuffer | Uint8Array) => (b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b));
  const [a, e] = [view(actual), view(expected)];
  expect(a.length, "byte count").toBe(e.length);
  expect(a.equals(e), `bytes differ: ${digestOf(a)} instead of ${digestOf(e)}`).toBe(true);
}

export function expectApiVersion(res: Response): void {
  expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
}

/**
 * The spec's error response: the status, and a JSON body {"errors":[{"code","message","detail"}]}
 * with the code and a non-empty message. Returns the first error for further checks on its message.
 */
export async function expectOciError(res: Response, status: number, code: string): Promise<{ code: string; message: string; detail: unknown }> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expectApiVersion(res);
  expect(res.headers.get("content-type") ?? "").toMatch(/^application\/json/);
  const body = JSON.parse(text) as { errors?: unknown };
  expect(Array.isArray(body.errors), text).toBe(true);
  const errors = body.errors as { code: string; message: string; detail: unknown }[];
  expect(errors.length).toBeGreaterThan(0);
  for (const error of errors) {
    expect(Object.keys(error).sort()).toEqual(["code", "detail", "message"]);
    expect(typeof error.message).toBe("string");
    expect(error.message.length).toBeGreaterThan(0);
  }
  expect(errors[0]!.code, text).toBe(code);
  return errors[0]!;
}

/** A HEAD refusal: the status and no body. */
export async function expectHeadError(res: Response, status: number): Promise<void> {
  expect(res.status).toBe(status);
  expectApiVersion(res);
  expect((await res.arrayBuffer()).byteLength).toBe(0);
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A request through node:http with the target sent exactly as given: fetch would normalise
 * "/v2/a/../b" to "/v2/b" before it left the client.
 */
export function rawRequest(baseUrl: string, method: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: base.hostname, port: base.port, method, path: target, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * A PATCH whose client goes away mid-body: sends `sent` (chunked, so the server cannot tell the
 * body is incomplete), gives the server time to take it, then destroys the socket.
 */
export async function interruptedPatch(uploadUrl: URL, sent: Uint8Array, settleMs = 150): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = httpRequest({
      host: uploadUrl.hostname,
      port: uploadUrl.port,
      method: "PATCH",
      path: uploadUrl.pathname + uploadUrl.search,
      headers: { "content-type": "application/octet-stream", "transfer-encoding": "chunked" },
    });
    // The request is destroyed on purpose: its errors and a possible response are expected and ignored.
    req.on("error", () => resolve());
    req.on("response", (res) => res.resume());
    req.flushHeaders();
    req.write(sent, () => {
      setTimeout(() => {
        req.destroy();
        resolve();
      }, settleMs);
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
