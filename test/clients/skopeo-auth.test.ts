import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { authFileHosts, failure, runWithInput, startMultiTenantServer, tokenRequests, type MultiTenantServer } from "./multi-tenant.ts";
import { layoutBlobs, layoutRef, sha256 } from "./server.ts";
import { describeWithTools, isolatedToolEnv, run, type ToolEnv } from "./tools.ts";

// skopeo through the whole login flow of a multi-tenant registry (DESIGN.md "Auth"), as a user runs it:
// the operator creates tenants and keys over the admin API; `skopeo login` checks the key against /token
// and stores it; copy and inspect get Bearer tokens from /token with the stored Basic credentials (or
// none: --no-creds). Last, an operator and a user with nothing but the `stratus` CLI: tenant, key,
// `stratus login` into a docker config that skopeo reads without a login of its own, visibility.
// Images are two small layers: the point is auth, not size.

const REPO = "acme/app";
const SECRET_REPO = "acme/secret";
/** What skopeo prints when /token refuses the credentials, or the registry refuses the token. */
const REFUSED = /unauthorized|denied|authentication required|invalid username\/password/i;
const TEST_TIMEOUT = 60_000;

describeWithTools(["skopeo"], "skopeo through the token flow of a multi-tenant registry", () => {
  let server: MultiTenantServer;
  let tools: ToolEnv;
  let image: BuiltImage;
  let src: string;
  const keys = { acmePush: "", acmePull: "", betaPush: "" };
  /** One auth file per identity, as separate users or CI jobs would have. */
  const authFile = (who: string) => join(tools.dir, `auth-${who}.json`);

  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 45_000);
  const ref = (repoAndTag: string) => `docker://${server.host}/${repoAndTag}`;
  const login = (who: string, key: string) => skopeo("login", "--tls-verify=false", "--authfile", authFile(who), "-u", who.split("-")[0]!, "-p", key, server.host);
  const push = (authArgs: string[], repoAndTag: string) => skopeo("copy", "--dest-tls-verify=false", ...authArgs, `oci:${src}:v1`, ref(repoAndTag));
  const inspectDigest = async (authArgs: string[], repoAndTag: string) =>
    (await skopeo("inspect", "--tls-verify=false", ...authArgs, "--format", "{{.Digest}}", ref(repoAndTag))).trim();
  const seenSince = (from: number) => server.requests.slice(from);

  beforeAll(async () => {
    server = await startMultiTenantServer();
    tools = await isolatedToolEnv("stratus-skopeo-auth-");
    src = join(tools.dir, "src-image");
    image = await buildImageLayout(src, "v1", [16 * 1024, 48 * 1024]);
    await server.admin.createTenant("acme");
    await server.admin.createTenant("beta");
    keys.acmePush = await server.admin.createKey("acme", "push");
    keys.acmePull = await server.admin.createKey("acme", "pull");
    keys.betaPush = await server.admin.createKey("beta", "push");
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("login with a wrong key fails, saying so, and stores nothing", { timeout: TEST_TIMEOUT }, async () => {
    const from = server.requests.length;
    // Well-formed but unknown, then not a key at all: the same refusal.
    for (const wrong of [`stratus_${"a".repeat(16)}_${"A".repeat(43)}`, "hunter2"]) {
      const error = await failure(login("acme", wrong));
      expect(error.stderr).toMatch(/invalid username\/password|unauthorized/i);
    }
    expect(await authFileHosts(authFile("acme"))).toEqual({});
    const asked = tokenRequests(seenSince(from));
    expect(asked.map((t) => [t.method, t.credentials, t.status])).toEqual([
      ["GET", "basic", 401],
      ["GET", "basic", 401],
    ]);
  });

  test("login with the push key succeeds and stores the credentials", { timeout: TEST_TIMEOUT }, async () => {
    const from = server.requests.length;
    expect(await login("acme", keys.acmePush)).toMatch(/Login Succeeded/);
    const stored = (await authFileHosts(authFile("acme")))[server.host];
    expect(Buffer.from(stored?.auth ?? "", "base64").toString("utf8")).toBe(`acme:${keys.acmePush}`);
    // skopeo login: GET /v2/ (401, Bearer challenge), GET /token with Basic and no scope, GET /v2/ with the token.
    const seen = seenSince(from);
    expect(seen.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(["GET /v2/ 401", "GET /token 200", "GET /v2/ 200"]);
    expect(seen[0]!.headers.authorization).toBeUndefined();
    expect(seen[1]!.query.get("service")).toBe("stratus");
    expect(seen[1]!.query.get("account")).toBe("acme");
    expect(seen[2]!.headers.authorization).toMatch(/^Bearer /);
  });

  test("pushes a 2-layer image with the stored login and inspects it", { timeout: TEST_TIMEOUT }, async () => {
    const from = server.requests.length;
    await push(["--dest-authfile", authFile("acme")], `${REPO}:1`);
    expect(await inspectDigest(["--authfile", authFile("acme")], `${REPO}:1`)).toBe(image.manifestDigest);
    const raw = await skopeo("inspect", "--tls-verify=false", "--authfile", authFile("acme"), "--raw", ref(`${REPO}:1`));
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);

    const seen = seenSince(from);
    const asked = tokenRequests(seen);
    expect(asked.every((t) => t.method === "GET" && t.credentials === "basic" && t.status === 200)).toBe(true);
    expect(asked.map((t) => t.scopes.join(" "))).toContain(`repository:${REPO}:pull,push`);
    expect(asked.map((t) => t.scopes.join(" "))).toContain(`repository:${REPO}:pull`);
    // Every registry request after the first challenge carries a Bearer token; none is refused then.
    const registry = seen.filter((r) => r.path.startsWith("/v2/"));
    expect(registry.filter((r) => r.status === 401 && r.headers.authorization !== undefined)).toEqual([]);
    expect(registry.filter((r) => r.headers.authorization?.startsWith("Basic "))).toEqual([]);

    // A second private repository of the tenant, for the refusals below (blobs mount within the tenant).
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--authfile", authFile("acme"), ref(`${REPO}:1`), ref(`${SECRET_REPO}:1`));
    expect(await inspectDigest(["--authfile", authFile("acme")], `${SECRET_REPO}:1`)).toBe(image.manifestDigest);
  });

  test("anonymous inspect of the private repository is refused", { timeout: TEST_TIMEOUT }, async () => {
    const from = server.requests.length;
    const error = await failure(inspectDigest(["--no-creds"], `${REPO}:1`));
    expect(error.stderr).toMatch(REFUSED);
    // The anonymous token is issued (200) but grants nothing; the registry refuses it.
    const asked = tokenRequests(seenSince(from));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((t) => t.method === "GET" && t.credentials === "anonymous" && t.status === 200)).toBe(true);
    expect(asked[0]!.scopes).toEqual([`repository:${REPO}:pull`]);
    const manifestGets = seenSince(from).filter((r) => r.path.startsWith(`/v2/${REPO}/manifests/`));
    expect(manifestGets.length).toBeGreaterThan(0);
    expect(manifestGets.every((r) => r.status === 401)).toBe(true);
  });

  test("a pull key pulls but cannot push", { timeout: TEST_TIMEOUT }, async () => {
    expect(await login("acme-pull", keys.acmePull)).toMatch(/Login Succeeded/);
    const out = join(tools.dir, "out-pull-key");
    await skopeo("copy", "--src-tls-verify=false", "--src-authfile", authFile("acme-pull"), ref(`${SECRET_REPO}:1`), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);

    const from = server.requests.length;
    const error = await failure(push(["--dest-authfile", authFile("acme-pull")], `${REPO}:pull-key`));
    expect(error.stderr).toMatch(REFUSED);
    // Asked for pull,push; the token grants pull only, so the upload is refused and no tag appears.
    expect(tokenRequests(seenSince(from)).map((t) => t.scopes.join(" "))).toContain(`repository:${REPO}:pull,push`);
    expect(seenSince(from).filter((r) => r.method === "PUT" && r.status !== undefined && r.status < 300)).toEqual([]);
    await failure(inspectDigest(["--authfile", authFile("acme")], `${REPO}:pull-key`));
  });

  test("another tenant's key can neither pull nor push acme's private repositories", { timeout: TEST_TIMEOUT }, async () => {
    expect(await login("beta", keys.betaPush)).toMatch(/Login Succeeded/);
    const pull = await failure(inspectDigest(["--authfile", authFile("beta")], `${SECRET_REPO}:1`));
    expect(pull.stderr).toMatch(REFUSED);
    const out = join(tools.dir, "out-beta");
    const copy = await failure(skopeo("copy", "--src-tls-verify=false", "--src-authfile", authFile("beta"), ref(`${SECRET_REPO}:1`), `oci:${out}:v1`));
    expect(copy.stderr).toMatch(REFUSED);
    const write = await failure(push(["--dest-authfile", authFile("beta")], `${SECRET_REPO}:beta`));
    expect(write.stderr).toMatch(REFUSED);
    // Its own namespace works. skopeo's blob-info cache knows these blobs live in acme/app, so it asks
    // /token for pull on acme/app too and tries to mount from there: the token leaves that scope out,
    // blobs are never shared across tenants, and every such mount becomes a plain upload (202).
    const from = server.requests.length;
    await push(["--dest-authfile", authFile("beta")], "beta/app:1");
    const mounts = seenSince(from).filter((r) => r.method === "POST" && r.query.get("from")?.startsWith("acme/"));
    expect(mounts.every((r) => r.status === 202)).toBe(true);
    expect(await inspectDigest(["--authfile", authFile("beta")], "beta/app:1")).toBe(image.manifestDigest);
  });

  test("once public, anonymous inspect and pull work; anonymous push is still refused", { timeout: TEST_TIMEOUT }, async () => {
    await server.admin.setVisibility(REPO, "public");
    expect(await inspectDigest(["--no-creds"], `${REPO}:1`)).toBe(image.manifestDigest);
    const out = join(tools.dir, "out-anonymous");
    await skopeo("copy", "--src-tls-verify=false", "--src-no-creds", ref(`${REPO}:1`), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    for (const [digest, blob] of await layoutBlobs(out)) expect(blob.contentDigest, `content of ${digest}`).toBe(digest);

    const from = server.requests.length;
    const error = await failure(push(["--dest-no-creds"], `${REPO}:anonymous`));
    expect(error.stderr).toMatch(REFUSED);
    expect(tokenRequests(seenSince(from)).every((t) => t.credentials === "anonymous")).toBe(true);
    // The other repository stays private.
    expect((await failure(inspectDigest(["--no-creds"], `${SECRET_REPO}:1`))).stderr).toMatch(REFUSED);
  });

  test("logout forgets the credentials: the private repository is refused again", { timeout: TEST_TIMEOUT }, async () => {
    expect(await inspectDigest(["--authfile", authFile("acme")], `${SECRET_REPO}:1`)).toBe(image.manifestDigest);
    await skopeo("logout", "--authfile", authFile("acme"), server.host);
    expect(await authFileHosts(authFile("acme"))).toEqual({});
    const error = await failure(inspectDigest(["--authfile", authFile("acme")], `${SECRET_REPO}:1`));
    expect(error.stderr).toMatch(REFUSED);
  });

  test("an operator using only the stratus CLI: tenant, key, login, push and pull, public repository", { timeout: TEST_TIMEOUT }, async () => {
    const dockerConfig = join(tools.dir, "docker-config");
    await mkdir(dockerConfig, { mode: 0o700 });
    // The operator's environment: the admin API's URL and token; the user's: a private docker config.
    const env = { ...tools.env, STRATUS_REGISTRY: server.running.url, STRATUS_ADMIN_TOKEN: server.adminToken, DOCKER_CONFIG: dockerConfig };
    await stratus(["tenant", "create", "gamma"], env);
    const key = (await stratus(["key", "create", "gamma", "--role", "push"], env)).trim();
    expect(key).toMatch(/^stratus_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
    const userEnv = { ...tools.env, DOCKER_CONFIG: dockerConfig };
    expect(await stratus(["login", server.host, "--tenant", "gamma", "--key-stdin"], userEnv, `${key}\n`)).toMatch(/Login Succeeded/);
    const config = join(dockerConfig, "config.json");
    const stored = (await authFileHosts(config))[server.host];
    expect(Buffer.from(stored?.auth ?? "", "base64").toString("utf8")).toBe(`gamma:${key}`);

    // skopeo reads the docker config format: no skopeo login.
    const from = server.requests.length;
    await push(["--dest-authfile", config], "gamma/app:1");
    expect(await inspectDigest(["--authfile", config], "gamma/app:1")).toBe(image.manifestDigest);
    const out = join(tools.dir, "out-stratus-login");
    await skopeo("copy", "--src-tls-verify=false", "--src-authfile", config, ref("gamma/app:1"), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    const asked = tokenRequests(seenSince(from));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((t) => t.method === "GET" && t.credentials === "basic" && t.status === 200)).toBe(true);

    expect((await failure(inspectDigest(["--no-creds"], "gamma/app:1"))).stderr).toMatch(REFUSED);
    expect(await stratus(["repo", "visibility", "gamma/app", "public"], env)).toMatch(/public/);
    expect(await inspectDigest(["--no-creds"], "gamma/app:1")).toBe(image.manifestDigest);
  });

  test("skopeo asked /token with GET only; no credentials ever went to /v2/ as Basic", () => {
    const asked = tokenRequests(server.requests).filter((t) => t.userAgent.startsWith("skopeo/"));
    expect(asked.length).toBeGreaterThan(10);
    expect(new Set(asked.map((t) => t.method))).toEqual(new Set(["GET"]));
    expect(server.requests.filter((r) => r.path.startsWith("/v2/") && r.headers.authorization?.startsWith("Basic "))).toEqual([]);
  });
});

/** The `stratus` CLI as its package.json bin runs it (node with tsx), from the repository root; `stdin` is piped in. */
function stratus(args: string[], env: NodeJS.ProcessEnv, stdin = ""): Promise<string> {
  const root = join(import.meta.dirname, "..", "..");
  return runWithInput(process.execPath, ["--import", "tsx", join(root, "packages", "cli", "src", "main.ts"), ...args], env, stdin, 30_000, root);
}
