import { beforeEach, describe, expect, it } from "vitest";
import { createAdminApi, type AdminApi } from "../src/admin/index.ts";
import { hashSecret, parseApiKey } from "../src/auth/api-keys.ts";
import type { Principal } from "../src/auth/principal.ts";
import { matchesRepositoryPatterns, parseRepositoryPattern, patternWithin } from "../src/auth/repository-patterns.ts";
import { RegistryError } from "../src/errors.ts";
import type { Role, TenantId } from "../src/ports.ts";
import { UNLIMITED } from "../src/services/plans.ts";
import { MemoryBlobs, MemoryMetadata, MemoryTenantStore } from "./admin-memory-stores.ts";

// The admin API over in-memory stores. Callers are named by a test header:
//   x-test-principal: operator | key:<tenant>:<role>[:<pattern>,<pattern>] | bad (credentials refused)
async function authenticate(request: Request): Promise<Principal> {
  const who = request.headers.get("x-test-principal");
  if (who === null) return { kind: "anonymous" };
  if (who === "operator") return { kind: "operator" };
  if (who === "bad") throw new RegistryError("UNAUTHORIZED", "bad credentials");
  const [, tenant, role, patterns] = who.split(":");
  return { kind: "key", tenant: tenant as TenantId, keyId: `key-of-${tenant}`, role: role as Role, ...(patterns ? { repositories: patterns.split(",") } : {}) };
}

let tenants: MemoryTenantStore;
let metadata: MemoryMetadata;
let blobs: MemoryBlobs;
let api: AdminApi;
let now: number;

beforeEach(() => {
  tenants = new MemoryTenantStore();
  metadata = new MemoryMetadata();
  blobs = new MemoryBlobs();
  now = Date.UTC(2025, 0, 2, 3, 4, 5);
  api = createAdminApi({ tenants, metadata: metadata.asStore(), blobs: blobs.asStore(), clock: { now: () => now }, authenticate, maxPageSize: 100 });
});

interface CallOptions {
  as?: string;
  body?: unknown;
  raw?: BodyInit;
  type?: string | null;
  headers?: Record<string, string>;
}

async function call(method: string, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.as !== undefined) headers["x-test-principal"] = options.as;
  let body: BodyInit | undefined = options.raw;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && options.type !== null) headers["content-type"] = options.type ?? "application/json";
  const init: RequestInit & { duplex?: string } = { method, headers, ...(body !== undefined ? { body, duplex: "half" } : {}) };
  const response = await api.handle(new Request(`http://registry.test${path}`, init));
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined };
}

const op = { as: "operator" };
const adminOf = (tenant: string, patterns?: string) => ({ as: `key:${tenant}:admin${patterns ? `:${patterns}` : ""}` });

async function tenant(id: string, plan?: string) {
  const r = await call("POST", "/admin/v1/tenants", { ...op, body: plan ? { id, plan } : { id } });
  expect(r.status).toBe(201);
}

function errorCode(r: { json?: { errors?: { code: string }[] } }) {
  return r.json?.errors?.[0]?.code;
}

describe("tenants", () => {
  it("creates a tenant on the default plan, and shows it", async () => {
    const r = await call("POST", "/admin/v1/tenants", { ...op, body: { id: "acme" } });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toBe("/admin/v1/tenants/acme");
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.json).toEqual({ id: "acme", plan: "default", createdAt: "2025-01-02T03:04:05.000Z" });
    expect((await call("GET", "/admin/v1/tenants/acme", op)).json).toEqual(r.json);
  });

  it("refuses a second tenant with the same id (409) and an unknown plan (400)", async () => {
    await tenant("acme");
    const again = await call("POST", "/admin/v1/tenants", { ...op, body: { id: "acme" } });
    expect([again.status, errorCode(again)]).toEqual([409, "CONFLICT"]);
    const unknownPlan = await call("POST", "/admin/v1/tenants", { ...op, body: { id: "beta", plan: "gold" } });
    expect([unknownPlan.status, errorCode(unknownPlan)]).toEqual([400, "INVALID_REQUEST"]);
    expect(tenants.tenants.has("beta")).toBe(false);
  });

  it.each([["Acme"], ["acme/web"], ["-acme"], ["a".repeat(65)], [""], ["admin"], ["v2"], ["default"], [42]])(
    "refuses tenant id %j",
    async (id) => {
      const r = await call("POST", "/admin/v1/tenants", { ...op, body: { id } });
      expect([r.status, errorCode(r)]).toEqual([400, "INVALID_REQUEST"]);
    },
  );

  it("lists tenants a page at a time with a Link to the next page", async () => {
    for (const id of ["c", "a", "b"]) await tenant(id);
    const first = await call("GET", "/admin/v1/tenants?n=2", op);
    expect(first.json.tenants.map((t: { id: string }) => t.id)).toEqual(["a", "b"]);
    expect(first.headers.get("link")).toBe('</admin/v1/tenants?n=2&last=b>; rel="next"');
    const second = await call("GET", "/admin/v1/tenants?n=2&last=b", op);
    expect(second.json.tenants.map((t: { id: string }) => t.id)).toEqual(["c"]);
    expect(second.headers.get("link")).toBeNull();
    const bad = await call("GET", "/admin/v1/tenants?n=x", op);
    expect([bad.status, errorCode(bad)]).toEqual([400, "INVALID_REQUEST"]);
  });

  it("changes a tenant's plan to a known plan only", async () => {
    await tenant("acme");
    await call("PUT", "/admin/v1/plans/basic", { ...op, body: { limits: { repositories: 5, storedBytes: 5e9, manifestsPerRepository: null } } });
    const r = await call("PATCH", "/admin/v1/tenants/acme", { ...op, body: { plan: "basic" } });
    expect([r.status, r.json.plan]).toEqual([200, "basic"]);
    expect(tenants.tenants.get("acme")!.plan).toBe("basic");
    const unknown = await call("PATCH", "/admin/v1/tenants/acme", { ...op, body: { plan: "gold" } });
    expect(unknown.status).toBe(400);
    const missing = await call("PATCH", "/admin/v1/tenants/nobody", { ...op, body: { plan: "basic" } });
    expect([missing.status, errorCode(missing)]).toEqual([404, "NOT_FOUND"]);
  });

  it("deletes an empty tenant with its keys, and refuses one that holds repositories (409)", async () => {
    await tenant("acme");
    await tenant("full");
    metadata.addManifest("full/web", "sha256:aa");
    await call("POST", "/admin/v1/tenants/acme/keys", { ...op, body: { role: "pull" } });
    const refused = await call("DELETE", "/admin/v1/tenants/full", op);
    expect([refused.status, errorCode(refused)]).toEqual([409, "CONFLICT"]);
    expect(refused.json.errors[0].detail).toMatchObject({ repositories: 1 });
    expect(tenants.tenants.has("full")).toBe(true);
    expect((await call("DELETE", "/admin/v1/tenants/acme", op)).status).toBe(204);
    expect(tenants.keys.size).toBe(0);
    expect((await call("GET", "/admin/v1/tenants/acme", op)).status).toBe(404);
    expect((await call("DELETE", "/admin/v1/tenants/acme", op)).status).toBe(404);
  });

  it("answers 404 for an id that cannot be a tenant", async () => {
    expect((await call("GET", "/admin/v1/tenants/UPPER", op)).status).toBe(404);
  });
});

describe("plans", () => {
  it("lists the built-in default until a stored plan overrides it", async () => {
    const r = await call("GET", "/admin/v1/plans", op);
    expect(r.json).toEqual({
      plans: [{ name: "default", limits: { repositories: 500, storedBytes: 500e9, manifestsPerRepository: 100_000, uploadSessions: 1_000 }, builtIn: true }],
    });
    const put = await call("PUT", "/admin/v1/plans/default", { ...op, body: { limits: { repositories: 10, storedBytes: 1e9, manifestsPerRepository: 50, uploadSessions: 20 } } });
    expect(put.status).toBe(201);
    const after = await call("GET", "/admin/v1/plans", op);
    expect(after.json.plans).toEqual([{ name: "default", limits: { repositories: 10, storedBytes: 1e9, manifestsPerRepository: 50, uploadSessions: 20 }, builtIn: false }]);
  });

  it("stores DOCR-like tiers, null as unlimited, and shows null back", async () => {
    const tiers = {
      starter: { repositories: 1, storedBytes: 500e6, manifestsPerRepository: null },
      basic: { repositories: 5, storedBytes: 5e9, manifestsPerRepository: null },
      professional: { repositories: null, storedBytes: 100e9, manifestsPerRepository: null },
    };
    for (const [name, limits] of Object.entries(tiers)) {
      const r = await call("PUT", `/admin/v1/plans/${name}`, { ...op, body: { limits } });
      // Left out, the open upload sessions get the default.
      expect([r.status, r.json]).toEqual([201, { name, limits: { ...limits, uploadSessions: 1_000 }, builtIn: false }]);
    }
    const sessions = await call("PUT", "/admin/v1/plans/ci", { ...op, body: { limits: { ...tiers.basic, uploadSessions: 50 } } });
    expect(sessions.json.limits).toEqual({ ...tiers.basic, uploadSessions: 50 });
    const unlimited = await call("PUT", "/admin/v1/plans/ci", { ...op, body: { limits: { ...tiers.basic, uploadSessions: null } } });
    expect(unlimited.json.limits.uploadSessions).toBeNull();
    expect(tenants.plans.get("ci")!.limits.uploadSessions).toBe(UNLIMITED);
    expect(tenants.plans.get("professional")!.limits.repositories).toBe(UNLIMITED);
    const replaced = await call("PUT", "/admin/v1/plans/basic", { ...op, body: { limits: { ...tiers.basic, repositories: 6 } } });
    expect(replaced.status).toBe(200);
    const list = await call("GET", "/admin/v1/plans", op);
    expect(list.json.plans.map((p: { name: string }) => p.name)).toEqual(["basic", "ci", "default", "professional", "starter"]);
    expect(list.json.plans[3].limits.repositories).toBeNull();
  });

  it.each([
    ["a negative limit", { limits: { repositories: -1, storedBytes: 1, manifestsPerRepository: 1 } }],
    ["a fraction", { limits: { repositories: 1.5, storedBytes: 1, manifestsPerRepository: 1 } }],
    ["a string", { limits: { repositories: "10", storedBytes: 1, manifestsPerRepository: 1 } }],
    ["a missing limit", { limits: { repositories: 1, storedBytes: 1 } }],
    ["an unknown limit", { limits: { repositories: 1, storedBytes: 1, manifestsPerRepository: 1, tags: 3 } }],
    ["an unknown field", { limits: { repositories: 1, storedBytes: 1, manifestsPerRepository: 1 }, price: 5 }],
    ["an unsafe integer", { limits: { repositories: 1, storedBytes: 2 ** 60, manifestsPerRepository: 1 } }],
  ])("refuses %s", async (_what, body) => {
    const r = await call("PUT", "/admin/v1/plans/basic", { ...op, body });
    expect([r.status, errorCode(r)]).toEqual([400, "INVALID_REQUEST"]);
    expect(tenants.plans.size).toBe(0);
  });

  it("refuses a bad plan name", async () => {
    const r = await call("PUT", "/admin/v1/plans/Gold_", { ...op, body: { limits: { repositories: 1, storedBytes: 1, manifestsPerRepository: 1 } } });
    expect([r.status, errorCode(r)]).toEqual([400, "INVALID_REQUEST"]);
  });
});

describe("API keys", () => {
  beforeEach(async () => {
    await tenant("acme");
    await tenant("beta");
  });

  it("shows the key once, stores only its hash, and never lists it", async () => {
    const r = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, body: { role: "push", repositories: ["acme/web/*"], description: "CI" } });
    expect(r.status).toBe(201);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const parsed = parseApiKey(r.json.key)!;
    expect(parsed.id).toBe(r.json.id);
    expect(r.json).toMatchObject({ tenant: "acme", username: "acme", role: "push", repositories: ["acme/web/*"], description: "CI", revokedAt: null, lastUsedAt: null });
    const stored = tenants.keys.get(parsed.id)!;
    expect(stored.secretHash).toBe(hashSecret(parsed.secret));
    expect(JSON.stringify(stored)).not.toContain(parsed.secret);

    tenants.keys.get(parsed.id)!.lastUsedAt = now + 1000;
    const list = await call("GET", "/admin/v1/tenants/acme/keys", op);
    expect(list.status).toBe(200);
    expect(list.json.keys).toEqual([
      {
        id: parsed.id,
        tenant: "acme",
        role: "push",
        repositories: ["acme/web/*"],
        description: "CI",
        createdAt: "2025-01-02T03:04:05.000Z",
        lastUsedAt: "2025-01-02T03:04:06.000Z",
        revokedAt: null,
      },
    ]);
    expect(list.text).not.toContain(parsed.secret);
    expect(list.text).not.toContain(stored.secretHash);
    expect(list.text).not.toContain("stratus_");
  });

  it("revokes a key (again is a no-op), and 404s keys of other tenants or unknown ones", async () => {
    const created = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, body: { role: "pull" } });
    const id = created.json.id as string;
    now += 60_000;
    expect((await call("DELETE", `/admin/v1/tenants/acme/keys/${id}`, op)).status).toBe(204);
    expect(tenants.keys.get(id)!.revokedAt).toBe(now);
    const list = await call("GET", "/admin/v1/tenants/acme/keys", op);
    expect(list.json.keys[0].revokedAt).toBe("2025-01-02T03:05:05.000Z");
    now += 60_000;
    expect((await call("DELETE", `/admin/v1/tenants/acme/keys/${id}`, op)).status).toBe(204);
    expect(tenants.keys.get(id)!.revokedAt).toBe(now - 60_000);
    const otherTenant = await call("DELETE", `/admin/v1/tenants/beta/keys/${id}`, op);
    expect([otherTenant.status, errorCode(otherTenant)]).toEqual([404, "NOT_FOUND"]);
    expect((await call("DELETE", "/admin/v1/tenants/acme/keys/aaaaaaaaaaaaaaaa", op)).status).toBe(404);
    expect((await call("DELETE", "/admin/v1/tenants/acme/keys/not-a-key-id", op)).status).toBe(404);
  });

  it("needs an existing tenant", async () => {
    expect((await call("POST", "/admin/v1/tenants/nobody/keys", { ...op, body: { role: "pull" } })).status).toBe(404);
    expect((await call("GET", "/admin/v1/tenants/nobody/keys", op)).status).toBe(404);
  });

  it.each([
    ["a bad role", { role: "owner" }],
    ["no role", {}],
    ["an unknown field", { role: "pull", scope: "all" }],
    ["an empty pattern list", { role: "pull", repositories: [] }],
    ["a pattern of another tenant", { role: "pull", repositories: ["beta/web"] }],
    ["the namespace alone", { role: "pull", repositories: ["acme"] }],
    ["a pattern without the namespace", { role: "pull", repositories: ["**"] }],
    ["an uppercase pattern", { role: "pull", repositories: ["acme/Web"] }],
    ["a partial **", { role: "pull", repositories: ["acme/web**"] }],
    ["an empty component", { role: "pull", repositories: ["acme//web"] }],
    ["a wildcard namespace", { role: "pull", repositories: ["ac*/web"] }],
    ["a control character in the description", { role: "pull", description: "a\nb" }],
    ["a long description", { role: "pull", description: "x".repeat(201) }],
  ])("refuses %s", async (_what, body) => {
    const r = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, body });
    expect([r.status, errorCode(r)]).toEqual([400, "INVALID_REQUEST"]);
    expect(tenants.keys.size).toBe(0);
  });

  it("lets a tenant admin key manage its own tenant's keys", async () => {
    const created = await call("POST", "/admin/v1/tenants/acme/keys", { ...adminOf("acme"), body: { role: "delete" } });
    expect(created.status).toBe(201);
    expect((await call("GET", "/admin/v1/tenants/acme/keys", adminOf("acme"))).json.keys).toHaveLength(1);
    expect((await call("DELETE", `/admin/v1/tenants/acme/keys/${created.json.id}`, adminOf("acme"))).status).toBe(204);
  });

  it("keeps a pattern-limited admin key within its patterns", async () => {
    const limited = adminOf("acme", "acme/web/*");
    const narrower = await call("POST", "/admin/v1/tenants/acme/keys", { ...limited, body: { role: "push", repositories: ["acme/web/api", "acme/web/ui-*"] } });
    expect(narrower.status).toBe(201);
    for (const repositories of [undefined, ["acme/**"], ["acme/web/**"], ["acme/other"], ["acme/web/api", "acme/x"]]) {
      const r = await call("POST", "/admin/v1/tenants/acme/keys", { ...limited, body: { role: "pull", ...(repositories ? { repositories } : {}) } });
      expect([r.status, errorCode(r)], JSON.stringify(repositories)).toEqual([403, "DENIED"]);
    }
    const wide = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, body: { role: "admin" } });
    const revokeWide = await call("DELETE", `/admin/v1/tenants/acme/keys/${wide.json.id}`, limited);
    expect([revokeWide.status, errorCode(revokeWide)]).toEqual([403, "DENIED"]);
    expect((await call("DELETE", `/admin/v1/tenants/acme/keys/${narrower.json.id}`, limited)).status).toBe(204);
  });
});

describe("usage and repositories", () => {
  beforeEach(async () => {
    await tenant("acme");
    metadata.addManifest("acme/web", "sha256:01", { size: 300, tags: ["v1", "latest"], createdAt: Date.UTC(2024, 5, 1) });
    metadata.addManifest("acme/web", "sha256:02", { size: 200 });
    metadata.addManifest("acme/tools/cli", "sha256:03", { size: 50 });
    metadata.addManifest("acmex/web", "sha256:04", { size: 7 });
  });

  it("reports usage against the plan's limits, per repository", async () => {
    const r = await call("GET", "/admin/v1/tenants/acme/usage", op);
    expect(r.json).toEqual({
      tenant: "acme",
      plan: "default",
      repositories: { used: 2, limit: 500 },
      storedBytes: { used: 550, limit: 500e9 },
      manifestsPerRepository: [
        { repository: "acme/tools/cli", manifests: 1, limit: 100_000 },
        { repository: "acme/web", manifests: 2, limit: 100_000 },
      ],
      uploadSessions: { used: 0, limit: 1_000 },
      stagedBytes: { used: 0 },
    });
    metadata.uploads.set("acme", { sessions: 3, stagedBytes: 1_234 });
    const uploading = await call("GET", "/admin/v1/tenants/acme/usage", op);
    expect(uploading.json).toMatchObject({ uploadSessions: { used: 3, limit: 1_000 }, stagedBytes: { used: 1_234 } });
    await call("PUT", "/admin/v1/plans/pro", { ...op, body: { limits: { repositories: null, storedBytes: 100e9, manifestsPerRepository: null } } });
    await call("PATCH", "/admin/v1/tenants/acme", { ...op, body: { plan: "pro" } });
    const pro = await call("GET", "/admin/v1/tenants/acme/usage", adminOf("acme"));
    expect(pro.json).toMatchObject({ plan: "pro", repositories: { used: 2, limit: null }, storedBytes: { limit: 100e9 } });
    expect(pro.json.manifestsPerRepository[0].limit).toBeNull();
  });

  it("lists the tenant's repositories with their visibility, a page at a time", async () => {
    const r = await call("GET", "/admin/v1/tenants/acme/repositories?n=1", op);
    expect(r.json).toEqual({ repositories: [{ name: "acme/tools/cli", visibility: "private" }] });
    expect(r.headers.get("link")).toBe('</admin/v1/tenants/acme/repositories?n=1&last=acme%2Ftools%2Fcli>; rel="next"');
    const next = await call("GET", "/admin/v1/tenants/acme/repositories?n=1&last=acme%2Ftools%2Fcli", op);
    expect(next.json.repositories).toEqual([{ name: "acme/web", visibility: "private" }]);
  });

  it("sets a repository's visibility; 404 for an unknown repository", async () => {
    const r = await call("PUT", "/admin/v1/repositories/acme/tools/cli/visibility", { ...adminOf("acme"), body: { visibility: "public" } });
    expect([r.status, r.json]).toEqual([200, { name: "acme/tools/cli", visibility: "public" }]);
    expect(await tenants.getVisibility("acme/tools/cli" as never)).toBe("public");
    const list = await call("GET", "/admin/v1/tenants/acme/repositories", op);
    expect(list.json.repositories[0]).toEqual({ name: "acme/tools/cli", visibility: "public" });
    const unknown = await call("PUT", "/admin/v1/repositories/acme/nothing/visibility", { ...op, body: { visibility: "public" } });
    expect([unknown.status, errorCode(unknown)]).toEqual([404, "NOT_FOUND"]);
    const bad = await call("PUT", "/admin/v1/repositories/acme/web/visibility", { ...op, body: { visibility: "internal" } });
    expect(bad.status).toBe(400);
    const badName = await call("PUT", "/admin/v1/repositories/acme/Web/visibility", { ...op, body: { visibility: "public" } });
    expect([badName.status, errorCode(badName)]).toEqual([400, "NAME_INVALID"]);
  });

  it("lists a repository's manifests with tags and ISO dates, a page at a time", async () => {
    const r = await call("GET", "/admin/v1/repositories/acme/web/manifests?n=1", op);
    expect(r.json).toEqual({
      repository: "acme/web",
      manifests: [
        { digest: "sha256:01", mediaType: "application/vnd.oci.image.manifest.v1+json", size: 300, tags: ["v1", "latest"], createdAt: "2024-06-01T00:00:00.000Z" },
      ],
    });
    expect(r.headers.get("link")).toBe('</admin/v1/repositories/acme/web/manifests?n=1&last=sha256%3A01>; rel="next"');
    const next = await call("GET", "/admin/v1/repositories/acme/web/manifests?last=sha256:01", op);
    expect(next.json.manifests.map((m: { digest: string }) => m.digest)).toEqual(["sha256:02"]);
    expect((await call("GET", "/admin/v1/repositories/acme/none/manifests", op)).status).toBe(404);
  });

  it("deletes a repository with its content: 204, its room back, the bytes of blobs only it linked, private again", async () => {
    metadata.linkBlob("acme/web", "sha256:b1", 1_000);
    metadata.linkBlob("acme/web", "sha256:b2", 2_000);
    metadata.linkBlob("acme/tools/cli", "sha256:b2");
    await call("PUT", "/admin/v1/repositories/acme/web/visibility", { ...op, body: { visibility: "public" } });
    const r = await call("DELETE", "/admin/v1/repositories/acme/web", adminOf("acme"));
    expect([r.status, r.text, r.headers.get("cache-control")]).toEqual([204, "", "no-store"]);
    // The blob only acme/web linked goes with its bytes; the one acme/tools/cli links stays.
    expect(blobs.deleted).toEqual([{ digest: "sha256:b1", size: 1_000 }]);
    expect(await tenants.getVisibility("acme/web" as never)).toBe("private");
    const usage = await call("GET", "/admin/v1/tenants/acme/usage", op);
    expect(usage.json).toMatchObject({ repositories: { used: 1 }, storedBytes: { used: 50 + 2_000 } });
    expect((await call("GET", "/admin/v1/tenants/acme/repositories", op)).json.repositories).toEqual([{ name: "acme/tools/cli", visibility: "private" }]);
    expect((await call("GET", "/admin/v1/repositories/acme/web/manifests", op)).status).toBe(404);
    const again = await call("DELETE", "/admin/v1/repositories/acme/web", op);
    expect([again.status, errorCode(again)]).toEqual([404, "NOT_FOUND"]);
  });

  it("deletes a repository whose name ends like a sub-resource: DELETE only ever names a repository", async () => {
    metadata.addManifest("acme/web/manifests", "sha256:05", { size: 5 });
    expect((await call("DELETE", "/admin/v1/repositories/acme/web/manifests", op)).status).toBe(204);
    expect(metadata.repositories.has("acme/web")).toBe(true);
    expect(metadata.repositories.has("acme/web/manifests")).toBe(false);
    const method = await call("POST", "/admin/v1/repositories/acme/web", op);
    expect([method.status, method.headers.get("allow")]).toEqual([405, "DELETE"]);
  });

  it("deletes only within a pattern-limited admin key's repositories", async () => {
    const outside = await call("DELETE", "/admin/v1/repositories/acme/tools/cli", adminOf("acme", "acme/web"));
    expect([outside.status, errorCode(outside)]).toEqual([403, "DENIED"]);
    expect(metadata.repositories.has("acme/tools/cli")).toBe(true);
    expect((await call("DELETE", "/admin/v1/repositories/acme/web", adminOf("acme", "acme/web"))).status).toBe(204);
  });

  it("shows a pattern-limited admin key only its repositories", async () => {
    const limited = adminOf("acme", "acme/web");
    const list = await call("GET", "/admin/v1/tenants/acme/repositories", limited);
    expect(list.json.repositories.map((r: { name: string }) => r.name)).toEqual(["acme/web"]);
    const usage = await call("GET", "/admin/v1/tenants/acme/usage", limited);
    expect(usage.json.manifestsPerRepository.map((r: { repository: string }) => r.repository)).toEqual(["acme/web"]);
    expect((await call("GET", "/admin/v1/repositories/acme/web/manifests", limited)).status).toBe(200);
    const outside = await call("GET", "/admin/v1/repositories/acme/tools/cli/manifests", limited);
    expect([outside.status, errorCode(outside)]).toEqual([403, "DENIED"]);
  });
});

describe("authorization", () => {
  const limits = { limits: { repositories: 1, storedBytes: 1, manifestsPerRepository: 1 } };
  // Every route, with a valid body, on tenant "beta" (or its repository).
  const routes: [string, string, unknown?][] = [
    ["POST", "/admin/v1/tenants", { id: "gamma" }],
    ["GET", "/admin/v1/tenants"],
    ["GET", "/admin/v1/tenants/beta"],
    ["PATCH", "/admin/v1/tenants/beta", { plan: "default" }],
    ["DELETE", "/admin/v1/tenants/beta"],
    ["GET", "/admin/v1/tenants/beta/usage"],
    ["GET", "/admin/v1/tenants/beta/repositories"],
    ["POST", "/admin/v1/tenants/beta/keys", { role: "pull" }],
    ["GET", "/admin/v1/tenants/beta/keys"],
    ["DELETE", "/admin/v1/tenants/beta/keys/aaaaaaaaaaaaaaaa"],
    ["GET", "/admin/v1/plans"],
    ["PUT", "/admin/v1/plans/basic", limits],
    ["PUT", "/admin/v1/repositories/beta/web/visibility", { visibility: "public" }],
    ["GET", "/admin/v1/repositories/beta/web/manifests"],
    ["DELETE", "/admin/v1/repositories/beta/web"],
  ];
  // What only the operator may do, whoever's tenant it names.
  const operatorOnly = new Set(["POST /admin/v1/tenants", "GET /admin/v1/tenants", "PATCH /admin/v1/tenants/beta", "DELETE /admin/v1/tenants/beta", "PUT /admin/v1/plans/basic"]);
  const keysEverywhere = new Set(["GET /admin/v1/plans"]);

  beforeEach(async () => {
    await tenant("acme");
    await tenant("beta");
    metadata.addManifest("beta/web", "sha256:01");
  });

  it.each(routes)("%s %s: anonymous gets 401 with a Basic challenge", async (method, path, body) => {
    const r = await call(method, path, body === undefined ? {} : { body });
    expect([r.status, errorCode(r)]).toEqual([401, "UNAUTHORIZED"]);
    expect(r.headers.get("www-authenticate")).toBe('Basic realm="stratus-admin"');
  });

  it.each(routes)("%s %s: tenant acme's admin key is refused on beta (403)", async (method, path, body) => {
    const r = await call(method, path, { ...adminOf("acme"), ...(body === undefined ? {} : { body }) });
    if (keysEverywhere.has(`${method} ${path}`)) return expect(r.status).toBe(200);
    expect([r.status, errorCode(r)]).toEqual([403, "DENIED"]);
  });

  it.each(routes)("%s %s: beta's own admin key may, unless the route is the operator's", async (method, path, body) => {
    const r = await call(method, path, { ...adminOf("beta"), ...(body === undefined ? {} : { body }) });
    if (operatorOnly.has(`${method} ${path}`)) expect([r.status, errorCode(r)]).toEqual([403, "DENIED"]);
    else expect([401, 403]).not.toContain(r.status);
  });

  it.each(routes)("%s %s: beta's pull, push and delete keys are refused (403)", async (method, path, body) => {
    for (const role of ["pull", "push", "delete"]) {
      const r = await call(method, path, { as: `key:beta:${role}`, ...(body === undefined ? {} : { body }) });
      expect([r.status, errorCode(r)], role).toEqual([403, "DENIED"]);
    }
  });

  it.each(routes)("%s %s: the operator may", async (method, path, body) => {
    const r = await call(method, path, { ...op, ...(body === undefined ? {} : { body }) });
    expect([401, 403]).not.toContain(r.status);
  });

  it("refuses before reading the body, with the same answer whether the tenant exists or not", async () => {
    const invalid = await call("POST", "/admin/v1/tenants/beta/keys", { ...adminOf("acme"), body: { role: "owner" } });
    const missing = await call("POST", "/admin/v1/tenants/nobody/keys", { ...adminOf("acme"), body: { role: "pull" } });
    expect(invalid.status).toBe(403);
    expect(missing.json).toEqual(invalid.json);
  });

  it("answers refused credentials with 401 and the challenge", async () => {
    const r = await call("GET", "/admin/v1/plans", { as: "bad" });
    expect([r.status, errorCode(r), r.headers.get("www-authenticate")]).toEqual([401, "UNAUTHORIZED", 'Basic realm="stratus-admin"']);
  });
});

describe("requests", () => {
  beforeEach(() => tenant("acme"));

  it("needs Content-Type application/json for bodies (415)", async () => {
    for (const type of ["text/plain", null, "application/jsonx"]) {
      const r = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, raw: '{"role":"pull"}', type });
      expect([r.status, errorCode(r)], String(type)).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    }
    const withCharset = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, raw: '{"role":"pull"}', type: "application/json; charset=utf-8" });
    expect(withCharset.status).toBe(201);
  });

  it("refuses bodies over 64 KiB (413), declared or streamed", async () => {
    const big = JSON.stringify({ role: "pull", description: "x".repeat(70_000) });
    const declared = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, raw: big });
    expect([declared.status, errorCode(declared)]).toEqual([413, "BODY_TOO_LARGE"]);
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.subarray(i, i + 8192));
        controller.close();
      },
    });
    const streamed = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, raw: stream });
    expect([streamed.status, errorCode(streamed)]).toEqual([413, "BODY_TOO_LARGE"]);
  });

  it("refuses malformed JSON and says which field is wrong", async () => {
    const r = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, raw: "{role:" });
    expect([r.status, errorCode(r)]).toEqual([400, "INVALID_REQUEST"]);
    const field = await call("POST", "/admin/v1/tenants/acme/keys", { ...op, body: { role: "pull", extra: 1 } });
    expect(field.json.errors[0].detail.issues[0]).toMatchObject({ path: "" });
    expect(field.json.errors[0].message).toContain("extra");
  });

  it("answers unknown endpoints with 404 NOT_FOUND and wrong methods with 405 and Allow", async () => {
    const none = await call("GET", "/admin/v1/nothing", op);
    expect([none.status, errorCode(none)]).toEqual([404, "NOT_FOUND"]);
    const method = await call("PUT", "/admin/v1/tenants/acme", op);
    expect([method.status, errorCode(method), method.headers.get("allow")]).toEqual([405, "UNSUPPORTED", "GET, PATCH, DELETE"]);
  });

  it("hides internal failures behind a 500 and reports them", async () => {
    const seen: unknown[] = [];
    const failing = createAdminApi({
      tenants: Object.assign(Object.create(tenants) as MemoryTenantStore, { getTenant: async () => Promise.reject(new Error("disk on fire")) }),
      metadata: metadata.asStore(),
      blobs: blobs.asStore(),
      clock: { now: () => now },
      authenticate,
      onUnexpectedError: (e) => seen.push(e),
    });
    const r = await failing.handle(new Request("http://registry.test/admin/v1/tenants/acme", { headers: { "x-test-principal": "operator" } }));
    expect(r.status).toBe(500);
    expect(await r.text()).not.toContain("disk on fire");
    expect(seen).toHaveLength(1);
  });
});

describe("repository patterns", () => {
  it.each([
    ["acme/web", "acme/web", true],
    ["acme/web", "acme/web/api", false],
    ["acme/web/*", "acme/web/api", true],
    ["acme/web/*", "acme/web/api/v2", false],
    ["acme/web-*", "acme/web-api", true],
    ["acme/web-*", "acme/web", false],
    ["acme/**", "acme/a", true],
    ["acme/**", "acme/a/b/c", true],
    ["acme/**", "acme", false],
    ["acme/**/cache", "acme/cache", true],
    ["acme/**/cache", "acme/a/b/cache", true],
    ["acme/**/cache", "acme/a/b/cache/x", false],
    ["acme/*/api", "acme/web/api", true],
    ["acme/w.b", "acme/wxb", false],
  ])("%s matches %s: %s", (pattern, name, expected) => {
    expect(matchesRepositoryPatterns(name, [pattern])).toBe(expected);
  });

  it("matches any of several patterns, and ignores invalid ones", () => {
    expect(matchesRepositoryPatterns("acme/b", ["acme/a", "acme/b"])).toBe(true);
    expect(matchesRepositoryPatterns("acme/b", ["acme/B", "acme/[b]"])).toBe(false);
    expect(matchesRepositoryPatterns("acme/b", [])).toBe(false);
  });

  it.each([[""], ["acme/"], ["acme/**x"], ["acme/***"], ["Acme/x"], ["acme/-*"], ["acme/a b"], ["x".repeat(256)]])("refuses %j", (pattern) => {
    expect(() => parseRepositoryPattern(pattern)).toThrow(/invalid repository pattern/);
  });

  it("bounds wildcards, so no pattern can make matching a 255-character name expensive", () => {
    expect(() => parseRepositoryPattern("acme/a*a*a*a*a*b")).toThrow(/at most 2 "\*\*" components and 4 "\*" wildcards/);
    expect(() => parseRepositoryPattern("acme/**/a/**/b/**/c")).toThrow(/at most/);
    const worst = parseRepositoryPattern("acme/**/a*a*a*a/**");
    const started = performance.now();
    expect(matchesRepositoryPatterns(`acme/${"a/".repeat(120)}b`, [worst])).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("collapses consecutive **", () => {
    expect(parseRepositoryPattern("acme/**/**/x").source).toBe("acme/**/x");
  });

  it.each([
    ["acme/web/api", "acme/web/*", true],
    ["acme/web/ui-*", "acme/web/*", true],
    ["acme/web/*", "acme/web/*", true],
    ["acme/web/**", "acme/web/*", false],
    ["acme/web/*", "acme/web/**", true],
    ["acme/web/**", "acme/**", true],
    ["acme/**", "acme/web/**", false],
    ["acme/**/cache", "acme/**", true],
    ["acme/**", "acme/**/cache", false],
    ["acme/web", "acme/**", true],
    ["acme/*", "acme/web-*", false],
    ["acme/web-*-x", "acme/web-*", true],
    ["acme/a/b", "acme/**/b", true],
    ["acme/b", "acme/**/b", true],
    ["acme/**/b", "acme/*/b", false],
  ])("%s within %s: %s", (inner, outer, expected) => {
    expect(patternWithin(parseRepositoryPattern(inner), parseRepositoryPattern(outer))).toBe(expected);
  });
});
