import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRegistry, OpenOnLoopbackAuthorizer, type Digest, type Registry, type RepositoryName, type TenantId, type TenantLimits } from "@stratus/core";
import { serverOptionsSchema, startServer, type RunningServer } from "@stratus/server";
import { openLocalStorage, type LocalStorage } from "@stratus/storage-local";
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, digestOf, expectOciError, utf8, type Bytes, type Descriptor } from "./http-api/client.ts";

// Per-tenant limits through the HTTP API (DESIGN.md "Tenancy"): a push over a limit answers 403
// DENIED with a message naming the limit, its maximum and the usage, and leaves nothing behind (no
// blob file, no record, no session, no manifest or tag, no change to the usage figures); deleting
// content makes room again. The registry runs in-process on the local storage (files + SQLite);
// the stores' own contract suite races the limits, here it is what a client sees.

const UNLIMITED = Number.MAX_SAFE_INTEGER;
const acme = "acme" as TenantId;

let dataDir: string;
let storage: LocalStorage;
let registry: Registry;
/** The limits of tenant acme for the test at hand; other tenants have none. */
let limits: TenantLimits;
const limit = (set: Partial<TenantLimits>) => {
  limits = { repositories: UNLIMITED, storedBytes: UNLIMITED, manifestsPerRepository: UNLIMITED, uploadSessions: UNLIMITED, ...set };
};

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "stratus-quotas-"));
  storage = await openLocalStorage(dataDir);
  limit({});
  registry = createRegistry(
    {
      blobs: storage.blobs,
      metadata: storage.metadata,
      authorizer: new OpenOnLoopbackAuthorizer(),
      limitsOf: async (tenant) => (tenant === acme ? limits : undefined),
    },
    { tenancy: "namespace" },
  );
});

afterEach(async () => {
  storage.close();
  await rm(dataDir, { recursive: true, force: true });
});

function call(method: string, path: string, body?: Bytes, headers: Record<string, string> = {}): Promise<Response> {
  const url = path.startsWith("http") ? path : `http://registry.test${path}`;
  return registry.handle(new Request(url, { method, headers, ...(body ? { body } : {}) }), { remoteAddress: "127.0.0.1" });
}

/** Monolithic upload (POST ?digest=). */
const postBlob = (name: string, bytes: Bytes) => call("POST", `/v2/${name}/blobs/uploads/?digest=${digestOf(bytes)}`, bytes);

/** Session upload as docker's classic store does it: POST, one PATCH, PUT ?digest=; the PUT's response and the session's URL. */
async function sessionBlob(name: string, bytes: Bytes): Promise<{ response: Response; session: string }> {
  const started = await call("POST", `/v2/${name}/blobs/uploads/`);
  expect(started.status).toBe(202);
  const session = started.headers.get("location")!;
  const patched = await call("PATCH", session, bytes);
  expect(patched.status).toBe(202);
  const next = new URL(patched.headers.get("location")!, "http://registry.test");
  next.searchParams.set("digest", digestOf(bytes));
  return { response: await call("PUT", next.toString()), session };
}

async function pushBlob(name: string, bytes: Bytes, mediaType = OCI_LAYER): Promise<Descriptor> {
  const res = await postBlob(name, bytes);
  expect(res.status, await res.clone().text()).toBe(201);
  return { mediaType, digest: digestOf(bytes), size: bytes.length };
}

function imageManifest(config: Descriptor, layers: Descriptor[]): Bytes {
  return utf8(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }));
}

const putManifest = (name: string, reference: string, bytes: Bytes) =>
  call("PUT", `/v2/${name}/manifests/${reference}`, bytes, { "content-type": OCI_MANIFEST });

/** Every file under the data directory's blobs/ and uploads/, relative paths. */
async function files(): Promise<string[]> {
  const found: string[] = [];
  for (const top of ["blobs", "uploads"]) {
    for (const entry of await readdir(join(dataDir, top), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) found.push(join(entry.parentPath, entry.name).slice(dataDir.length + 1));
    }
  }
  return found.sort();
}

/** What a refused push must leave unchanged. */
async function state() {
  return {
    files: await files(),
    usage: await storage.metadata.tenantUsage(acme),
    repositories: await storage.metadata.listRepositories({ limit: 100 }, "acme/"),
    manifests: await storage.metadata.manifestCount("acme/web" as RepositoryName),
  };
}

describe("per-tenant limits through the HTTP API", () => {
  it("refuses a blob past the stored bytes with 403 DENIED, leaving no bytes, session or usage behind", async () => {
    limit({ storedBytes: 1_000 });
    const first = await pushBlob("acme/web", new Uint8Array(randomBytes(600)));
    const before = await state();
    const big = new Uint8Array(randomBytes(500));

    // Staged bytes count against the plan: the PATCH is refused before a byte is kept, not the PUT after.
    const session = (await call("POST", "/v2/acme/web/blobs/uploads/")).headers.get("location")!;
    const error = await expectOciError(await call("PATCH", session, big, { "content-length": "500" }), 403, "DENIED");
    expect(error.message).toBe(
      "500 bytes more would take tenant acme to 1.1 kB of its 1 kB (600 bytes stored); the upload was discarded: delete images or move to a larger plan",
    );
    expect(error.detail).toMatchObject({ limit: "storedBytes", max: 1_000, usage: 600, size: 500 });
    // The session is gone with its staged bytes; the blob exists nowhere.
    await expectOciError(await call("GET", session), 404, "BLOB_UPLOAD_UNKNOWN");
    expect((await call("HEAD", `/v2/acme/web/blobs/${digestOf(big)}`)).status).toBe(404);
    expect(await storage.metadata.findBlob(acme, digestOf(big) as Digest)).toBeUndefined();
    expect(await state()).toEqual(before);

    // The one-request upload is refused the same way.
    await expectOciError(await postBlob("acme/web", big), 403, "DENIED");
    expect(await state()).toEqual(before);

    // A blob the tenant has adds no bytes: it is mounted into another repository even with the bytes used up.
    await pushBlob("acme/api", new Uint8Array(randomBytes(400)));
    expect((await call("POST", `/v2/acme/copy/blobs/uploads/?mount=${first.digest}&from=acme/web`)).status).toBe(201);
    // Uploaded again, its bytes are staged before their digest is known, and staged bytes count: refused.
    const firstBytes = (await (await call("GET", `/v2/acme/web/blobs/${first.digest}`)).bytes()) as Bytes;
    await expectOciError(await postBlob("acme/copy", firstBytes), 403, "DENIED");

    // Deleting the blob everywhere gives its bytes back.
    expect((await call("DELETE", `/v2/acme/web/blobs/${first.digest}`)).status).toBe(202);
    expect((await call("DELETE", `/v2/acme/copy/blobs/${first.digest}`)).status).toBe(202);
    expect(await storage.metadata.tenantUsage(acme)).toMatchObject({ storedBytes: 400 });
    await pushBlob("acme/web", big);
    expect(await storage.metadata.tenantUsage(acme)).toMatchObject({ storedBytes: 900 });
  });

  it("refuses a new repository past the limit, whether by blob, mount or manifest", async () => {
    limit({ repositories: 1 });
    const layer = await pushBlob("acme/web", new Uint8Array(randomBytes(100)));
    await pushBlob("acme/web", utf8('{"architecture":"amd64","os":"linux"}'), OCI_CONFIG);
    const before = await state();
    const message = "tenant acme has 1 of its 1 repositories, so acme/api cannot be created: push to an existing repository, delete a repository or move to a larger plan";

    const refused = await expectOciError(await postBlob("acme/api", new Uint8Array(randomBytes(100))), 403, "DENIED");
    expect(refused.message).toBe(message);
    expect(refused.detail).toMatchObject({ limit: "repositories", max: 1, usage: 1 });
    // A blob the tenant has, uploaded or mounted into the new repository.
    expect((await sessionBlob("acme/api", utf8('{"architecture":"amd64","os":"linux"}'))).response.status).toBe(403);
    expect((await expectOciError(await call("POST", `/v2/acme/api/blobs/uploads/?mount=${layer.digest}&from=acme/web`), 403, "DENIED")).message).toBe(message);
    // A manifest alone (an index of manifests pushed by digest, say) cannot create it either.
    const index = utf8(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
    await expectOciError(await call("PUT", "/v2/acme/api/manifests/v1", index, { "content-type": OCI_INDEX }), 403, "DENIED");
    expect(await state()).toEqual(before);
    expect(await storage.metadata.repositoryExists("acme/api" as RepositoryName)).toBe(false);
    await expectOciError(await call("GET", "/v2/acme/api/tags/list"), 404, "NAME_UNKNOWN");

    // The existing repository takes more, and other tenants are not concerned.
    await pushBlob("acme/web", new Uint8Array(randomBytes(100)));
    await pushBlob("globex/app", new Uint8Array(randomBytes(100)));
    expect(await storage.metadata.tenantUsage(acme)).toMatchObject({ repositories: 1 });
  });

  it("refuses a manifest past the per-repository limit, leaving no manifest or tag, and takes it once one is deleted", async () => {
    limit({ manifestsPerRepository: 1 });
    const layer = await pushBlob("acme/web", new Uint8Array(randomBytes(100)));
    const configs = await Promise.all([1, 2].map((n) => pushBlob("acme/web", utf8(`{"architecture":"amd64","os":"linux","n":${n}}`), OCI_CONFIG)));
    const one = imageManifest(configs[0]!, [layer]);
    const two = imageManifest(configs[1]!, [layer]);
    expect((await putManifest("acme/web", "v1", one)).status).toBe(201);
    const before = await state();

    const error = await expectOciError(await putManifest("acme/web", "v2", two), 403, "DENIED");
    expect(error.message).toBe("repository acme/web has 1 of its 1 manifests: delete old manifests or move to a larger plan");
    expect(error.detail).toMatchObject({ limit: "manifestsPerRepository", max: 1, usage: 1 });
    await expectOciError(await call("GET", "/v2/acme/web/manifests/v2"), 404, "MANIFEST_UNKNOWN");
    await expectOciError(await call("GET", `/v2/acme/web/manifests/${digestOf(two)}`), 404, "MANIFEST_UNKNOWN");
    // Pushed by digest with a tag (?tag=): neither lands.
    await expectOciError(await putManifest("acme/web", `${digestOf(two)}?tag=latest`, two), 403, "DENIED");
    expect(await (await call("GET", "/v2/acme/web/tags/list")).json()).toEqual({ name: "acme/web", tags: ["v1"] });
    expect(await state()).toEqual(before);

    // Pushing the stored manifest again, under another tag, adds nothing and is never refused.
    expect((await putManifest("acme/web", "again", one)).status).toBe(201);
    expect((await call("DELETE", `/v2/acme/web/manifests/${digestOf(one)}`)).status).toBe(202);
    expect((await putManifest("acme/web", "v2", two)).status).toBe(201);
    expect(await storage.metadata.manifestCount("acme/web" as RepositoryName)).toBe(1);
  });

  it("refuses a manifest past the stored bytes", async () => {
    const layer = await pushBlob("acme/web", new Uint8Array(randomBytes(300)));
    const config = await pushBlob("acme/web", utf8('{"architecture":"arm64","os":"linux"}'), OCI_CONFIG);
    const manifest = imageManifest(config, [layer]);
    const stored = 300 + config.size;
    limit({ storedBytes: stored + manifest.length - 1 });
    const before = await state();

    const error = await expectOciError(await putManifest("acme/web", "v1", manifest), 403, "DENIED");
    expect(error.message).toMatch(new RegExp(`^this manifest of ${manifest.length} bytes would take tenant acme to .* of its .* \\(${stored} bytes stored\\): delete images or move to a larger plan$`));
    expect(error.detail).toMatchObject({ limit: "storedBytes", max: stored + manifest.length - 1, usage: stored, size: manifest.length });
    await expectOciError(await call("GET", "/v2/acme/web/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    expect(await state()).toEqual(before);

    limit({ storedBytes: stored + manifest.length });
    expect((await putManifest("acme/web", "v1", manifest)).status).toBe(201);
    expect(await storage.metadata.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: stored + manifest.length });
  });

  it("refuses only the racers past the limit when pushes race for the last repositories", async () => {
    limit({ repositories: 3 });
    await pushBlob("acme/web", new Uint8Array(randomBytes(10)));
    const pushes = await Promise.all(Array.from({ length: 6 }, (_, i) => postBlob(`acme/race-${i}`, new Uint8Array(randomBytes(10)))));
    expect(pushes.map((r) => r.status).sort()).toEqual([201, 201, 403, 403, 403, 403]);
    expect(await storage.metadata.tenantUsage(acme)).toMatchObject({ repositories: 3, storedBytes: 30 });
    // Only the winners' blobs are on disk.
    expect((await files()).filter((f) => f.startsWith("blobs/"))).toHaveLength(3);
  });
});

describe("deleting a repository gives its room back", () => {
  /** A small image (config, one layer, manifest) pushed to `name` with `tag`; the manifest's digest. */
  async function pushImage(name: string, tag: string): Promise<string> {
    const config = await pushBlob(name, utf8(`{"architecture":"amd64","os":"linux","name":"${name}"}`), OCI_CONFIG);
    const layer = await pushBlob(name, new Uint8Array(randomBytes(200)));
    const manifest = imageManifest(config, [layer]);
    expect((await putManifest(name, tag, manifest)).status).toBe(201);
    return digestOf(manifest);
  }

  it("frees the repository slot, the bytes and the files, and takes a new repository after", async () => {
    limit({ repositories: 1 });
    const first = await pushImage("acme/a", "v1");
    const refused = await expectOciError(await postBlob("acme/b", new Uint8Array(randomBytes(10))), 403, "DENIED");
    expect(refused.detail).toMatchObject({ limit: "repositories", max: 1, usage: 1 });
    expect((await files()).filter((f) => f.startsWith("blobs/"))).toHaveLength(2);

    expect(await registry.deleteRepository("acme/a" as RepositoryName)).toBe(true);
    expect(await storage.metadata.tenantUsage(acme)).toEqual({ repositories: 0, storedBytes: 0 });
    expect(await files()).toEqual([]);
    await expectOciError(await call("GET", "/v2/acme/a/tags/list"), 404, "NAME_UNKNOWN");
    await expectOciError(await call("GET", `/v2/acme/a/manifests/${first}`), 404, "MANIFEST_UNKNOWN");
    expect(await (await call("GET", "/v2/_catalog")).json()).toEqual({ repositories: [] });
    expect(await registry.deleteRepository("acme/a" as RepositoryName)).toBe(false);

    // The slot is free: acme/b is created; then acme/a is the one refused.
    await pushImage("acme/b", "v1");
    await expectOciError(await postBlob("acme/a", new Uint8Array(randomBytes(10))), 403, "DENIED");
    expect(await storage.metadata.tenantUsage(acme)).toMatchObject({ repositories: 1 });
  });

  it("keeps a blob another repository of the tenant holds, bytes and all", async () => {
    const shared = await pushBlob("acme/a", new Uint8Array(randomBytes(300)));
    await pushBlob("acme/a", new Uint8Array(randomBytes(40)));
    expect((await call("POST", `/v2/acme/b/blobs/uploads/?mount=${shared.digest}&from=acme/a`)).status).toBe(201);
    expect(await registry.deleteRepository("acme/a" as RepositoryName)).toBe(true);
    expect(await storage.metadata.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: 300 });
    const pulled = await call("GET", `/v2/acme/b/blobs/${shared.digest}`);
    expect([pulled.status, (await pulled.bytes()).length]).toEqual([200, 300]);
    expect((await files()).filter((f) => f.startsWith("blobs/"))).toHaveLength(1);
  });
});

describe("deleting a repository through a multi-tenant server", () => {
  let server: RunningServer;
  let serverDir: string;
  const adminToken = `operator-${randomBytes(24).toString("base64url")}`;

  beforeEach(async () => {
    serverDir = await mkdtemp(join(tmpdir(), "stratus-quotas-mt-"));
    server = await startServer(
      serverOptionsSchema.parse({ port: 0, dataDir: serverDir, logLevel: "silent", multiTenant: true, adminToken, tokenSecrets: randomBytes(32).toString("base64url") }),
    );
  });
  afterEach(async () => {
    await server.close();
    await rm(serverDir, { recursive: true, force: true });
  });

  const send = (method: string, path: string, authorization: string, body?: unknown, type = "application/json") =>
    fetch(new URL(path, server.url), {
      method,
      headers: { authorization, ...(body !== undefined ? { "content-type": type } : {}) },
      ...(body !== undefined ? { body: body instanceof Uint8Array ? (body as Bytes) : JSON.stringify(body) } : {}),
    });
  const operator = `Bearer ${adminToken}`;

  it("refuses a second repository on a plan of one, and takes it once the admin API deleted the first", async () => {
    expect((await send("PUT", "/admin/v1/plans/one", operator, { limits: { repositories: 1, storedBytes: null, manifestsPerRepository: null } })).status).toBe(201);
    expect((await send("POST", "/admin/v1/tenants", operator, { id: "solo", plan: "one" })).status).toBe(201);
    const created = await send("POST", "/admin/v1/tenants/solo/keys", operator, { role: "push" });
    const push = `Basic ${Buffer.from(`solo:${((await created.json()) as { key: string }).key}`).toString("base64")}`;
    const blob = (name: string, bytes: Bytes) => send("POST", `/v2/${name}/blobs/uploads/?digest=${digestOf(bytes)}`, push, bytes, "application/octet-stream");

    const layer = new Uint8Array(randomBytes(64));
    expect((await blob("solo/a", layer)).status).toBe(201);
    await expectOciError(await blob("solo/b", new Uint8Array(randomBytes(64))), 403, "DENIED");
    // A push key may not use the admin API; the operator may.
    expect((await send("DELETE", "/admin/v1/repositories/solo/a", push)).status).toBe(403);
    expect((await send("DELETE", "/admin/v1/repositories/solo/a", operator)).status).toBe(204);
    expect((await send("DELETE", "/admin/v1/repositories/solo/a", operator)).status).toBe(404);
    expect((await send("HEAD", `/v2/solo/a/blobs/${digestOf(layer)}`, push)).status).toBe(404);

    expect((await blob("solo/b", new Uint8Array(randomBytes(64)))).status).toBe(201);
    const usage = (await (await send("GET", "/admin/v1/tenants/solo/usage", operator)).json()) as { repositories: unknown; storedBytes: { used: number } };
    expect(usage.repositories).toEqual({ used: 1, limit: 1 });
    expect(usage.storedBytes.used).toBe(64);
  });
});
