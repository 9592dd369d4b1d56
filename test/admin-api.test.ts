import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf, RegistryError, type BlobRecord, type RepositoryName, type Role, type Tag, type TenantId, type TenantLimits, type UploadId } from "@stratus/core";
import { toWebRequest, writeWebResponse } from "@stratus/server";
import { openLocalStorage, type FileBlobStore, type LocalStorage, type SqliteMetadataStore, type SqliteTenantStore } from "@stratus/storage-local";
import { createAdminApi, type AdminApi } from "../packages/core/src/admin/index.ts";
import type { Principal } from "../packages/core/src/auth/principal.ts";
import { stratus } from "../packages/cli/test/cli-test-support.ts";

// The admin API over the real local adapters (SQLite tenant and metadata stores in one file), and
// the `stratus` CLI against it over HTTP. Credentials are not checked here (that is the token
// authenticator's job): a test header names the caller.
//   x-test-principal: operator | key:<tenant>:<role>[:<pattern>,<pattern>]

async function authenticate(request: Request): Promise<Principal> {
  const who = request.headers.get("x-test-principal");
  if (who === null) {
    // The CLI sends its operator token as Bearer: accept the test's, refuse anything else.
    const authorization = request.headers.get("authorization");
    if (authorization === null) return { kind: "anonymous" };
    if (authorization === "Bearer test-operator-token") return { kind: "operator" };
    throw new RegistryError("UNAUTHORIZED", "bad credentials");
  }
  if (who === "operator") return { kind: "operator" };
  const [, tenant, role, patterns] = who.split(":");
  return { kind: "key", tenant: tenant as TenantId, keyId: "test", role: role as Role, ...(patterns ? { repositories: patterns.split(",") } : {}) };
}

let dataDir: string;
let storage: LocalStorage;
let tenants: SqliteTenantStore;
let metadata: SqliteMetadataStore;
let blobs: FileBlobStore;
let api: AdminApi;
let server: Server;
let url: string;
const now = Date.UTC(2025, 4, 6, 7, 8, 9);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "stratus-admin-api-"));
  storage = await openLocalStorage(dataDir);
  ({ tenants, metadata, blobs } = storage);
  api = createAdminApi({ tenants, metadata, blobs, clock: { now: () => now }, authenticate });
  server = createServer((req, res) => {
    void api.handle(toWebRequest(req)).then((response) => writeWebResponse(response, req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  storage.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, as: string | undefined, body?: unknown) {
  const headers: Record<string, string> = as ? { "x-test-principal": as } : {};
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await api.handle(new Request(`http://registry.test${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }));
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined, text };
}

async function push(tenant: string, repository: string, content: string, tags: string[] = []) {
  const bytes = new TextEncoder().encode(content);
  const outcome = await metadata.putManifest(
    tenant as TenantId,
    { repository: repository as RepositoryName, digest: digestOf(bytes), mediaType: "application/vnd.oci.image.manifest.v1+json", bytes, createdAt: now },
    tags as Tag[],
  );
  expect(outcome).toEqual({ ok: true });
  return digestOf(bytes);
}

/** A blob through the file store and SQLite, as an upload commits it; the store's quota outcome. */
async function commitBlob(tenant: string, repository: string, content: string, limits?: TenantLimits) {
  const bytes = new TextEncoder().encode(content);
  const id = randomUUID() as UploadId;
  const staging = await blobs.createUpload(id, tenant as TenantId);
  const appended = await blobs.appendUpload(id, staging, 0, (async function* () {
    yield bytes;
  })());
  const { location } = await blobs.commitUpload(id, appended.staging, tenant as TenantId, digestOf(bytes), bytes.length);
  const record: BlobRecord = { digest: digestOf(bytes), size: bytes.length, ...(location !== undefined ? { location } : {}) };
  return { record, outcome: await metadata.commitBlob(tenant as TenantId, repository as RepositoryName, record, limits) };
}

describe("the admin API on SQLite", () => {
  it("runs a tenant's life: plan, tenant, keys, content, usage, visibility, deletion", async () => {
    const op = "operator";
    expect((await call("PUT", "/admin/v1/plans/basic", op, { limits: { repositories: 5, storedBytes: 5e9, manifestsPerRepository: null } })).status).toBe(201);
    expect((await call("POST", "/admin/v1/tenants", op, { id: "acme", plan: "basic" })).status).toBe(201);
    expect((await call("POST", "/admin/v1/tenants", op, { id: "beta" })).status).toBe(201);
    expect((await call("POST", "/admin/v1/tenants", op, { id: "acme" })).status).toBe(409);

    const key = await call("POST", "/admin/v1/tenants/acme/keys", "key:acme:admin", { role: "push", repositories: ["acme/web/*"], description: "CI" });
    expect(key.status).toBe(201);
    const listed = await call("GET", "/admin/v1/tenants/acme/keys", op);
    expect(listed.json.keys).toEqual([
      { id: key.json.id, tenant: "acme", role: "push", repositories: ["acme/web/*"], description: "CI", createdAt: "2025-05-06T07:08:09.000Z", lastUsedAt: null, revokedAt: null },
    ]);
    expect(listed.text).not.toContain(key.json.key);
    expect((await tenants.getApiKey(key.json.id))!.secretHash).toMatch(/^[0-9a-f]{64}$/);

    const first = await push("acme", "acme/web/api", '{"a":1}', ["v1", "latest"]);
    await push("acme", "acme/web/api", '{"a":2}');
    await push("acme", "acme/tools", '{"t":1}', ["v1"]);
    await push("beta", "beta/x", '{"b":1}');

    const usage = await call("GET", "/admin/v1/tenants/acme/usage", "key:acme:admin");
    expect(usage.json).toMatchObject({
      tenant: "acme",
      plan: "basic",
      repositories: { used: 2, limit: 5 },
      storedBytes: { limit: 5e9 },
      manifestsPerRepository: [
        { repository: "acme/tools", manifests: 1, limit: null },
        { repository: "acme/web/api", manifests: 2, limit: null },
      ],
    });
    expect(usage.json.storedBytes.used).toBeGreaterThan(0);

    const manifests = await call("GET", "/admin/v1/repositories/acme/web/api/manifests", "key:acme:admin");
    const one = manifests.json.manifests.find((m: { digest: string }) => m.digest === first);
    expect(one).toEqual({ digest: first, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 7, tags: ["latest", "v1"], createdAt: "2025-05-06T07:08:09.000Z" });

    expect((await call("PUT", "/admin/v1/repositories/acme/tools/visibility", "key:acme:admin", { visibility: "public" })).json).toEqual({ name: "acme/tools", visibility: "public" });
    expect(await tenants.getVisibility("acme/tools" as RepositoryName)).toBe("public");
    const repositories = await call("GET", "/admin/v1/tenants/acme/repositories", op);
    expect(repositories.json.repositories).toEqual([
      { name: "acme/tools", visibility: "public" },
      { name: "acme/web/api", visibility: "private" },
    ]);

    // Tenant acme's admin key on tenant beta: refused everywhere.
    for (const [method, path, body] of [
      ["GET", "/admin/v1/tenants/beta"],
      ["GET", "/admin/v1/tenants/beta/usage"],
      ["GET", "/admin/v1/tenants/beta/keys"],
      ["POST", "/admin/v1/tenants/beta/keys", { role: "pull" }],
      ["GET", "/admin/v1/tenants/beta/repositories"],
      ["GET", "/admin/v1/repositories/beta/x/manifests"],
      ["PUT", "/admin/v1/repositories/beta/x/visibility", { visibility: "public" }],
    ] as [string, string, unknown?][]) {
      expect((await call(method, path, "key:acme:admin", body)).status, `${method} ${path}`).toBe(403);
    }

    expect((await call("DELETE", "/admin/v1/tenants/acme", op)).status).toBe(409);
    expect((await call("DELETE", `/admin/v1/tenants/acme/keys/${key.json.id}`, "key:acme:admin")).status).toBe(204);
    expect((await tenants.getApiKey(key.json.id))!.revokedAt).toBe(now);
    expect((await call("GET", "/admin/v1/tenants/acme/keys", op)).json.keys[0].revokedAt).toBe("2025-05-06T07:08:09.000Z");
  });

  it("deletes a repository with its images over SQLite and files, giving its room back", async () => {
    const op = "operator";
    expect((await call("POST", "/admin/v1/tenants", op, { id: "shop" })).status).toBe(201);
    const limits: TenantLimits = { repositories: 2, storedBytes: Number.MAX_SAFE_INTEGER, manifestsPerRepository: Number.MAX_SAFE_INTEGER, uploadSessions: Number.MAX_SAFE_INTEGER };
    const shared = await commitBlob("shop", "shop/a", "layer both repositories hold", limits);
    const own = await commitBlob("shop", "shop/a", "layer only shop/a holds", limits);
    expect((await metadata.linkBlob("shop" as TenantId, "shop/b" as RepositoryName, shared.record.digest, limits))?.ok).toBe(true);
    const manifest = await push("shop", "shop/a", '{"shop":1}', ["v1"]);
    expect((await call("PUT", "/admin/v1/repositories/shop/a/visibility", op, { visibility: "public" })).status).toBe(200);
    // The tenant is full: a third repository is refused.
    expect((await commitBlob("shop", "shop/c", "third", limits)).outcome).toMatchObject({ ok: false, limit: "repositories" });

    // shop/b's admin key may not; shop's admin key limited to shop/a may.
    expect((await call("DELETE", "/admin/v1/repositories/shop/a", "key:shop:admin:shop/b")).status).toBe(403);
    expect((await call("DELETE", "/admin/v1/repositories/shop/a", "key:shop:admin:shop/a")).status).toBe(204);

    expect(await metadata.tenantUsage("shop" as TenantId)).toEqual({ repositories: 1, storedBytes: shared.record.size });
    expect(await metadata.repositoryExists("shop/a" as RepositoryName)).toBe(false);
    expect(await metadata.getManifest("shop/a" as RepositoryName, { kind: "digest", digest: manifest })).toBeUndefined();
    expect(await tenants.getVisibility("shop/a" as RepositoryName)).toBe("private");
    // The blob only shop/a held is gone, bytes and all; the shared one is still served from shop/b.
    expect(await metadata.findBlob("shop" as TenantId, own.record.digest)).toBeUndefined();
    expect(await blobs.open("shop" as TenantId, own.record)).toBeUndefined();
    expect(await metadata.findLinkedBlob("shop/b" as RepositoryName, shared.record.digest)).toEqual(shared.record);
    const content = await blobs.open("shop" as TenantId, shared.record);
    expect(content?.kind).toBe("stream");
    if (content?.kind === "stream") await content.body.cancel();

    // The room is back: the third repository fits now.
    expect((await commitBlob("shop", "shop/c", "third", limits)).outcome).toEqual({ ok: true });
    const again = await call("DELETE", "/admin/v1/repositories/shop/a", op);
    expect([again.status, again.json.errors[0].code]).toEqual([404, "NOT_FOUND"]);
  });

  it("deletes a tenant without content, with its keys", async () => {
    expect((await call("POST", "/admin/v1/tenants", "operator", { id: "empty" })).status).toBe(201);
    const key = await call("POST", "/admin/v1/tenants/empty/keys", "operator", { role: "pull" });
    expect((await call("DELETE", "/admin/v1/tenants/empty", "operator")).status).toBe(204);
    expect(await tenants.getApiKey(key.json.id)).toBeUndefined();
    expect((await call("GET", "/admin/v1/tenants/empty", "operator")).status).toBe(404);
  });
});

describe("the stratus CLI against the admin API on SQLite", () => {
  const env = () => ({ STRATUS_REGISTRY: url, STRATUS_ADMIN_TOKEN: "test-operator-token" });

  it("manages plans, tenants and keys", async () => {
    expect((await stratus(["plan", "set", "starter", "--repositories", "1", "--stored", "500MB", "--manifests", "unlimited"], { env: env() })).code).toBe(0);
    const plans = await stratus(["plan", "list", "--json"], { env: env() });
    expect(JSON.parse(plans.out)).toContainEqual({ name: "starter", limits: { repositories: 1, storedBytes: 500e6, manifestsPerRepository: null, uploadSessions: 1000 }, builtIn: false });
    expect((await stratus(["plan", "set", "starter", "--upload-sessions", "3"], { env: env() })).out).toBe(
      "Plan starter: 1 repositories, 500 MB stored, unlimited manifests per repository, 3 upload sessions open at once.\n",
    );
    expect(await stratus(["tenant", "create", "cli", "--plan", "starter"], { env: env() })).toMatchObject({ code: 0, out: "Created tenant cli (plan starter).\n" });
    const created = await stratus(["key", "create", "cli", "--role", "pull", "--repository", "cli/**"], { env: env() });
    expect(created.code).toBe(0);
    const key = created.out.trim();
    expect(key).toMatch(/^stratus_[a-z2-7]{16}_/);
    const list = await stratus(["key", "list", "cli"], { env: env() });
    expect(list.out).toContain("pull  cli/**");
    expect(list.out).not.toContain(key);
    const id = key.split("_")[1]!;
    expect((await stratus(["key", "revoke", "cli", id], { env: env() })).code).toBe(0);
    expect((await stratus(["key", "list", "cli", "--json"], { env: env() })).out).toContain('"revokedAt": "2025-05-06T07:08:09.000Z"');
    const usage = await stratus(["usage", "cli"], { env: env() });
    expect(usage.out).toContain("Tenant cli (plan starter)");
    expect(usage.out).toContain("No repositories yet.");
    expect(await stratus(["tenant", "delete", "cli"], { env: env() })).toMatchObject({ code: 0 });
  });

  it("deletes a repository, after which its tenant can be deleted", async () => {
    expect((await stratus(["tenant", "create", "gone"], { env: env() })).code).toBe(0);
    await push("gone", "gone/app", '{"gone":1}', ["latest"]);
    expect((await stratus(["tenant", "delete", "gone"], { env: env() })).err).toContain("CONFLICT");
    expect((await stratus(["repo", "delete", "gone/app"], { env: env() })).code).toBe(1);
    expect(await stratus(["repo", "delete", "gone/app", "--yes"], { env: env() })).toEqual({ code: 0, out: "Deleted repository gone/app and every image in it.\n", err: "" });
    expect(await stratus(["repo", "list", "gone"], { env: env() })).toEqual({ code: 0, out: "REPOSITORY  VISIBILITY\n", err: "" });
    expect(await stratus(["tenant", "delete", "gone"], { env: env() })).toMatchObject({ code: 0 });
  });

  it("reports refusals: no credentials, wrong credentials, unknown tenant", async () => {
    const none = await stratus(["tenant", "list"], { env: { STRATUS_REGISTRY: url } });
    expect([none.code, none.err]).toEqual([1, expect.stringContaining("UNAUTHORIZED, HTTP 401")]);
    const wrong = await stratus(["tenant", "list"], { env: { STRATUS_REGISTRY: url, STRATUS_ADMIN_TOKEN: "nope" } });
    expect([wrong.code, wrong.err]).toEqual([1, expect.stringContaining("refused the credentials")]);
    expect(wrong.err).not.toContain("nope");
    const unknown = await stratus(["tenant", "show", "nobody"], { env: env() });
    expect([unknown.code, unknown.err]).toEqual([1, "stratus: no tenant nobody (NOT_FOUND, HTTP 404)\n"]);
  });
});
