import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { recordingServer, stratus, type RecordingServer } from "./cli-test-support.ts";

// The admin commands' HTTP calls and output, against a server that records requests.

let server: RecordingServer;
let env: Record<string, string>;
const TOKEN = "operator-secret-token-123";

beforeAll(async () => {
  server = await recordingServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.replies.clear();
  env = { STRATUS_REGISTRY: server.url, STRATUS_ADMIN_TOKEN: TOKEN };
});

const tenant = (id: string, plan = "default") => ({ id, plan, createdAt: "2025-01-02T03:04:05.000Z" });
const last = () => server.requests.at(-1)!;

describe("connection and credentials", () => {
  it("sends the operator token as Bearer, JSON bodies, and never prints the token", async () => {
    server.replies.set("POST /admin/v1/tenants", { status: 201, body: tenant("acme", "basic") });
    const run = await stratus(["tenant", "create", "acme", "--plan", "basic"], { env });
    expect(run).toEqual({ code: 0, out: "Created tenant acme (plan basic).\n", err: "" });
    expect(last()).toMatchObject({ method: "POST", url: "/admin/v1/tenants", json: { id: "acme", plan: "basic" } });
    expect(last().headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(last().headers["content-type"]).toBe("application/json");
  });

  it("sends an API key as Basic, with STRATUS_TENANT or \"stratus\" as the user", async () => {
    server.replies.set("GET /admin/v1/tenants/acme", { body: tenant("acme") });
    await stratus(["tenant", "show", "acme"], { env: { STRATUS_REGISTRY: server.url, STRATUS_API_KEY: "stratus_k" } });
    expect(last().headers.authorization).toBe(`Basic ${Buffer.from("stratus:stratus_k").toString("base64")}`);
    await stratus(["tenant", "show", "acme"], { env: { STRATUS_REGISTRY: server.url, STRATUS_API_KEY: "stratus_k", STRATUS_TENANT: "acme" } });
    expect(last().headers.authorization).toBe(`Basic ${Buffer.from("acme:stratus_k").toString("base64")}`);
    await stratus(["tenant", "show", "acme"], { env: { STRATUS_REGISTRY: server.url } });
    expect(last().headers.authorization).toBeUndefined();
  });

  it("takes --registry over STRATUS_REGISTRY", async () => {
    server.replies.set("GET /admin/v1/tenants/acme", { body: tenant("acme") });
    const run = await stratus(["tenant", "show", "acme", "--registry", server.url], { env: { ...env, STRATUS_REGISTRY: "http://127.0.0.1:1" } });
    expect(run.code).toBe(0);
    expect(run.out).toContain("plan:     default");
  });

  it("reports the server's error on stderr with exit code 1, without credentials", async () => {
    server.replies.set("DELETE /admin/v1/tenants/full", {
      status: 409,
      body: { errors: [{ code: "CONFLICT", message: "tenant full still has 2 repositories (10 bytes); delete them first", detail: null }] },
    });
    const run = await stratus(["tenant", "delete", "full"], { env });
    expect(run.code).toBe(1);
    expect(run.out).toBe("");
    expect(run.err).toBe("stratus: tenant full still has 2 repositories (10 bytes); delete them first (CONFLICT, HTTP 409)\n");
  });

  it("says which credentials to set on 401, and that they were refused when set", async () => {
    const unauthorized = { status: 401, body: { errors: [{ code: "UNAUTHORIZED", message: "authentication required", detail: null }] } };
    server.replies.set("GET /admin/v1/plans", unauthorized);
    const none = await stratus(["plan", "list"], { env: { STRATUS_REGISTRY: server.url } });
    expect([none.code, none.err]).toEqual([1, expect.stringContaining("set STRATUS_ADMIN_TOKEN (operator) or STRATUS_API_KEY")]);
    const refused = await stratus(["plan", "list"], { env: { STRATUS_REGISTRY: server.url, STRATUS_API_KEY: "stratus_secret_value" } });
    expect(refused.err).toContain("refused the credentials");
    expect(refused.err + refused.out).not.toContain("stratus_secret_value");
  });

  it("fails with exit code 1 when the registry cannot be reached", async () => {
    const run = await stratus(["tenant", "list"], { env: { ...env, STRATUS_REGISTRY: "http://127.0.0.1:1" } });
    expect([run.code, run.err]).toEqual([1, expect.stringMatching(/^stratus: cannot reach the registry at http:\/\/127\.0\.0\.1:1/)]);
  });

  it("refuses credentials in the registry URL", async () => {
    const run = await stratus(["tenant", "list", "--registry", "http://u:p@127.0.0.1:5000"], { env });
    expect(run.code).toBe(1);
    expect(server.requests).toHaveLength(0);
  });

  it("does not follow a Link to another host (it would receive the credentials)", async () => {
    server.replies.set("GET /admin/v1/tenants", { body: { tenants: [tenant("a")] }, headers: { link: '<http://evil.example/admin/v1/tenants?n=1&last=a>; rel="next"' } });
    const run = await stratus(["tenant", "list"], { env });
    expect([run.code, run.err]).toEqual([1, expect.stringContaining("another host")]);
  });

  it("encodes arguments into one path segment", async () => {
    await stratus(["tenant", "show", "a/../../x"], { env });
    expect(last().url).toBe("/admin/v1/tenants/a%2F..%2F..%2Fx");
  });
});

describe("tenant", () => {
  it("lists every page, as a table or JSON", async () => {
    server.replies.set("GET /admin/v1/tenants", { body: { tenants: [tenant("acme"), tenant("beta", "pro")] }, headers: { link: '</admin/v1/tenants?n=2&last=beta>; rel="next"' } });
    server.replies.set("GET /admin/v1/tenants?n=2&last=beta", { body: { tenants: [tenant("gamma")] } });
    const run = await stratus(["tenant", "list"], { env });
    expect(run.out).toBe(
      "ID     PLAN     CREATED\n" + "acme   default  2025-01-02 03:04Z\n" + "beta   pro      2025-01-02 03:04Z\n" + "gamma  default  2025-01-02 03:04Z\n",
    );
    const asJson = await stratus(["tenant", "list", "--json"], { env });
    expect(JSON.parse(asJson.out)).toEqual([tenant("acme"), tenant("beta", "pro"), tenant("gamma")]);
  });

  it("sets a plan and deletes", async () => {
    server.replies.set("PATCH /admin/v1/tenants/acme", { body: tenant("acme", "pro") });
    expect((await stratus(["tenant", "set-plan", "acme", "pro"], { env })).out).toBe("Tenant acme is now on plan pro.\n");
    expect(last().json).toEqual({ plan: "pro" });
    server.replies.set("DELETE /admin/v1/tenants/acme", { status: 204 });
    expect((await stratus(["tenant", "delete", "acme"], { env })).out).toBe("Deleted tenant acme.\n");
  });
});

describe("plan", () => {
  const plans = {
    plans: [
      { name: "basic", limits: { repositories: 5, storedBytes: 5e9, manifestsPerRepository: null }, builtIn: false },
      { name: "default", limits: { repositories: 500, storedBytes: 500e9, manifestsPerRepository: 100000 }, builtIn: true },
    ],
  };

  it("lists plans with readable sizes and unlimited", async () => {
    const listed = { plans: plans.plans.map((p) => ({ ...p, limits: { ...p.limits, uploadSessions: p.builtIn ? 1000 : null } })) };
    server.replies.set("GET /admin/v1/plans", { body: listed });
    const run = await stratus(["plan", "list"], { env });
    expect(run.out).toBe(
      "PLAN     REPOSITORIES  STORED  MANIFESTS/REPO  UPLOAD SESSIONS\n" +
        "basic    5             5 GB    unlimited       unlimited\n" +
        "default  500           500 GB  100000          1000             (built-in)\n",
    );
  });

  it("sets every limit in one PUT", async () => {
    const limits = { repositories: 1, storedBytes: 500e6, manifestsPerRepository: null, uploadSessions: 20 };
    server.replies.set("PUT /admin/v1/plans/starter", { status: 201, body: { name: "starter", limits, builtIn: false } });
    const run = await stratus(["plan", "set", "starter", "--repositories", "1", "--stored", "500MB", "--manifests", "unlimited", "--upload-sessions", "20"], { env });
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(["PUT /admin/v1/plans/starter"]);
    expect(last().json).toEqual({ limits });
    expect(run.out).toBe("Plan starter: 1 repositories, 500 MB stored, unlimited manifests per repository, 20 upload sessions open at once.\n");
  });

  it("creates a plan without --upload-sessions, leaving the registry's default, and keeps a plan's own", async () => {
    server.replies.set("GET /admin/v1/plans", { body: plans });
    server.replies.set("PUT /admin/v1/plans/starter", { status: 201, body: { name: "starter", limits: { repositories: 1, storedBytes: 500e6, manifestsPerRepository: null }, builtIn: false } });
    const run = await stratus(["plan", "set", "starter", "--repositories", "1", "--stored", "500MB", "--manifests", "unlimited"], { env });
    expect(last().json).toEqual({ limits: { repositories: 1, storedBytes: 500e6, manifestsPerRepository: null } });
    expect(run.out).toBe("Plan starter: 1 repositories, 500 MB stored, unlimited manifests per repository.\n");

    const withSessions = { ...plans.plans[0]!, limits: { ...plans.plans[0]!.limits, uploadSessions: 7 } };
    server.replies.set("GET /admin/v1/plans", { body: { plans: [withSessions] } });
    server.replies.set("PUT /admin/v1/plans/basic", { body: withSessions });
    await stratus(["plan", "set", "basic", "--repositories", "6", "--stored", "5GB", "--manifests", "unlimited"], { env });
    expect(last().json).toEqual({ limits: { repositories: 6, storedBytes: 5e9, manifestsPerRepository: null, uploadSessions: 7 } });
    await stratus(["plan", "set", "basic", "--upload-sessions", "unlimited"], { env });
    expect(last().json).toEqual({ limits: { ...withSessions.limits, uploadSessions: null } });
  });

  it("keeps the current values of limits left out", async () => {
    server.replies.set("GET /admin/v1/plans", { body: plans });
    server.replies.set("PUT /admin/v1/plans/basic", { body: plans.plans[0] });
    await stratus(["plan", "set", "basic", "--stored", "unlimited"], { env });
    expect(last().json).toEqual({ limits: { repositories: 5, storedBytes: null, manifestsPerRepository: null } });
  });

  it("needs all three limits for a new plan, and valid values", async () => {
    server.replies.set("GET /admin/v1/plans", { body: plans });
    const run = await stratus(["plan", "set", "gold", "--repositories", "9"], { env });
    expect([run.code, run.err]).toEqual([1, expect.stringContaining("plan gold does not exist yet")]);
    expect(server.requests.some((r) => r.method === "PUT")).toBe(false);
    const bad = await stratus(["plan", "set", "gold", "--repositories=-1", "--stored", "1GB", "--manifests", "1"], { env });
    expect([bad.code, bad.err]).toEqual([1, expect.stringContaining("--repositories -1")]);
  });
});

describe("key", () => {
  const created = {
    id: "abcdefghijklmnop",
    tenant: "acme",
    username: "acme",
    role: "push",
    repositories: ["acme/web/*", "acme/tools/**"],
    description: "CI",
    createdAt: "2025-01-02T03:04:05.000Z",
    lastUsedAt: null,
    revokedAt: null,
    key: "stratus_abcdefghijklmnop_SECRETSECRETSECRETSECRETSECRETSECRETSECRE",
  };

  it("creates a key: the key alone on stdout, the notice and hint on stderr", async () => {
    server.replies.set("POST /admin/v1/tenants/acme/keys", { status: 201, body: created });
    const run = await stratus(["key", "create", "acme", "--role", "push", "--repository", "acme/web/*", "--repository", "acme/tools/**", "--description", "CI"], { env });
    expect(last().json).toEqual({ role: "push", repositories: ["acme/web/*", "acme/tools/**"], description: "CI" });
    expect(run.out).toBe(`${created.key}\n`);
    expect(run.err).toContain("only time the key is shown");
    expect(run.err).toContain(`stratus login 127.0.0.1:${new URL(server.url).port} --tenant acme --key-stdin`);
    expect(run.err).not.toContain(created.key);
    const asJson = await stratus(["key", "create", "acme", "--role", "push", "--json"], { env });
    expect(JSON.parse(asJson.out)).toEqual(created);
    expect(last().json).toEqual({ role: "push" });
  });

  it("needs a valid --role before calling the registry", async () => {
    for (const args of [["key", "create", "acme"], ["key", "create", "acme", "--role", "owner"]]) {
      const run = await stratus(args, { env });
      expect([run.code, run.err]).toEqual([1, expect.stringContaining("--role is required")]);
    }
    expect(server.requests).toHaveLength(0);
  });

  it("lists keys as a table and revokes", async () => {
    const { key: _key, username: _u, ...view } = created;
    server.replies.set("GET /admin/v1/tenants/acme/keys", {
      body: { keys: [view, { ...view, id: "qrstuvwxyzabcdef", role: "pull", repositories: null, description: null, lastUsedAt: "2025-02-01T00:00:00.000Z", revokedAt: "2025-03-01T10:11:12.000Z" }] },
    });
    const run = await stratus(["key", "list", "acme"], { env });
    expect(run.out).toBe(
      "ID                ROLE  REPOSITORIES              CREATED            LAST USED          STATUS                     DESCRIPTION\n" +
        "abcdefghijklmnop  push  acme/web/*,acme/tools/**  2025-01-02 03:04Z  -                  active                     CI\n" +
        "qrstuvwxyzabcdef  pull  *                         2025-01-02 03:04Z  2025-02-01 00:00Z  revoked 2025-03-01 10:11Z\n",
    );
    server.replies.set("DELETE /admin/v1/tenants/acme/keys/abcdefghijklmnop", { status: 204 });
    const revoke = await stratus(["key", "revoke", "acme", "abcdefghijklmnop"], { env });
    expect([revoke.code, revoke.out]).toEqual([0, "Revoked key abcdefghijklmnop of acme.\n"]);
  });
});

describe("usage, repositories and manifests", () => {
  it("prints usage as a readable table", async () => {
    server.replies.set("GET /admin/v1/tenants/acme/usage", {
      body: {
        tenant: "acme",
        plan: "basic",
        repositories: { used: 2, limit: 5 },
        storedBytes: { used: 1_250_000_000, limit: 5e9 },
        manifestsPerRepository: [
          { repository: "acme/tools/cli", manifests: 1, limit: null },
          { repository: "acme/web", manifests: 12, limit: null },
        ],
      },
    });
    const run = await stratus(["usage", "acme"], { env });
    expect(run.out).toBe(
      "Tenant acme (plan basic)\n\n" +
        "              USED    LIMIT\n" +
        "repositories  2       5      (40.0%)\n" +
        "stored        1.3 GB  5 GB   (25.0%)\n\n" +
        "REPOSITORY      MANIFESTS  LIMIT\n" +
        "acme/tools/cli  1          unlimited\n" +
        "acme/web        12         unlimited\n",
    );
  });

  it("shows open upload sessions and their staged bytes when the registry reports them", async () => {
    server.replies.set("GET /admin/v1/tenants/acme/usage", {
      body: {
        tenant: "acme",
        plan: "basic",
        repositories: { used: 2, limit: 5 },
        storedBytes: { used: 1_250_000_000, limit: 5e9 },
        manifestsPerRepository: [],
        uploadSessions: { used: 3, limit: 100 },
        stagedBytes: { used: 40_000_000 },
      },
    });
    const run = await stratus(["usage", "acme"], { env });
    expect(run.out).toBe(
      "Tenant acme (plan basic)\n\n" +
        "                  USED    LIMIT\n" +
        "repositories      2       5      (40.0%)\n" +
        "stored            1.3 GB  5 GB   (25.0%)\n" +
        "staged (uploads)  40 MB\n" +
        "upload sessions   3       100    (3.0%)\n\n" +
        "No repositories yet.\n",
    );
  });

  it("sets visibility on a name with slashes", async () => {
    server.replies.set("PUT /admin/v1/repositories/acme/web/api/visibility", { body: { name: "acme/web/api", visibility: "public" } });
    const run = await stratus(["repo", "visibility", "acme/web/api", "public"], { env });
    expect([run.code, run.out]).toEqual([0, "Repository acme/web/api is now public.\n"]);
    expect(last().json).toEqual({ visibility: "public" });
    const bad = await stratus(["repo", "visibility", "acme/web/api", "internal"], { env });
    expect([bad.code, bad.err]).toEqual([1, expect.stringContaining("public or private")]);
  });

  it("deletes a repository only with --yes, and says that every image goes", async () => {
    const refused = await stratus(["repo", "delete", "acme/web/api"], { env });
    expect([refused.code, refused.err]).toEqual([1, expect.stringContaining("deletes every image in acme/web/api, with no undo; add --yes")]);
    expect(server.requests).toHaveLength(0);
    server.replies.set("DELETE /admin/v1/repositories/acme/web/api", { status: 204 });
    const run = await stratus(["repo", "delete", "acme/web/api", "--yes"], { env });
    expect(run).toEqual({ code: 0, out: "Deleted repository acme/web/api and every image in it.\n", err: "" });
    expect(last()).toMatchObject({ method: "DELETE", url: "/admin/v1/repositories/acme/web/api" });
    server.replies.set("DELETE /admin/v1/repositories/acme/none", { status: 404, body: { errors: [{ code: "NOT_FOUND", message: "no repository acme/none", detail: null }] } });
    const unknown = await stratus(["repo", "delete", "acme/none", "--yes"], { env });
    expect([unknown.code, unknown.err]).toEqual([1, "stratus: no repository acme/none (NOT_FOUND, HTTP 404)\n"]);
    const help = await stratus(["repo", "delete", "--help"], { env });
    expect(help.out).toContain("Deletes every image in the repository");
  });

  it("lists repositories and manifests across pages", async () => {
    server.replies.set("GET /admin/v1/tenants/acme/repositories", { body: { repositories: [{ name: "acme/web", visibility: "public" }] } });
    expect((await stratus(["repo", "list", "acme"], { env })).out).toBe("REPOSITORY  VISIBILITY\nacme/web    public\n");
    const digest = (c: string) => `sha256:${c.repeat(64)}`;
    server.replies.set("GET /admin/v1/repositories/acme/web/manifests", {
      body: { repository: "acme/web", manifests: [{ digest: digest("a"), mediaType: "application/vnd.oci.image.index.v1+json", size: 1234, tags: ["v1", "latest"], createdAt: "2025-01-02T03:04:05.000Z" }] },
      headers: { link: `</admin/v1/repositories/acme/web/manifests?n=1&last=${encodeURIComponent(digest("a"))}>; rel="next"` },
    });
    server.replies.set(`GET /admin/v1/repositories/acme/web/manifests?n=1&last=${encodeURIComponent(digest("a"))}`, {
      body: { repository: "acme/web", manifests: [{ digest: digest("b"), mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/spdx+json", size: 500, tags: [], createdAt: "2025-01-03T00:00:00.000Z" }] },
    });
    const run = await stratus(["manifests", "acme/web"], { env });
    expect(run.out).toBe(
      `DIGEST${" ".repeat(65)}  TAGS       SIZE    CREATED            ARTIFACT TYPE\n` +
        `${digest("a")}  v1,latest  1.2 kB  2025-01-02 03:04Z  application/vnd.oci.image.index.v1+json\n` +
        `${digest("b")}  -          500 B   2025-01-03 00:00Z  application/spdx+json\n`,
    );
    const asJson = await stratus(["manifests", "acme/web", "--json"], { env });
    expect(JSON.parse(asJson.out).map((m: { digest: string }) => m.digest)).toEqual([digest("a"), digest("b")]);
  });
});
