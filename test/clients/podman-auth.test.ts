import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { authFileHosts, failure, runWithInput, startMultiTenantServer, tokenRequests, type MultiTenantServer } from "./multi-tenant.ts";
import { describeWithTools, isolatedToolEnv, podmanArgs, run, type ToolEnv } from "./tools.ts";

// podman through the login flow of a multi-tenant registry (DESIGN.md "Auth"): `podman login` with a
// tenant's push key into a private auth file, push (chunked PATCHes, each behind a Bearer token), pull
// by tag and by digest into an empty store, then `podman logout` and a refused pull. The image is two
// small layers, loaded from an OCI layout: the point is auth, not size.

const REPO = "acme/pod";
const REFUSED = /unauthorized|denied|authentication required|invalid username\/password/i;
const TEST_TIMEOUT = 60_000;

describeWithTools(["podman"], "podman through the token flow of a multi-tenant registry", () => {
  let server: MultiTenantServer;
  let tools: ToolEnv;
  let image: BuiltImage;
  let configDigest: string;
  let pushedDigest: string;
  let pushKey: string;
  let authFile: string;

  const podman = (...args: string[]) => run("podman", podmanArgs(tools, args), tools.env, 45_000);
  const imageRef = (repoAndTag: string) => `${server.host}/${repoAndTag}`;
  const imageIds = async () => (await podman("images", "--quiet", "--no-trunc")).split("\n").map((l) => l.trim()).filter(Boolean);
  const seenSince = (from: number) => server.requests.slice(from);

  beforeAll(async () => {
    server = await startMultiTenantServer();
    tools = await isolatedToolEnv("stratus-podman-auth-");
    authFile = join(tools.dir, "podman-auth.json");
    image = await buildImageLayout(join(tools.dir, "layout"), "v1", [16 * 1024, 48 * 1024]);
    configDigest = (JSON.parse(Buffer.from(image.manifest).toString("utf8")) as { config: { digest: string } }).config.digest;
    await server.admin.createTenant("acme");
    pushKey = await server.admin.createKey("acme", "push");
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("login with a wrong key fails; with the push key it succeeds", { timeout: TEST_TIMEOUT }, async () => {
    const wrong = await failure(podman("login", "--tls-verify=false", "--authfile", authFile, "-u", "acme", "-p", `stratus_${"b".repeat(16)}_${"B".repeat(43)}`, server.host));
    expect(wrong.stderr).toMatch(/invalid username\/password|unauthorized/i);
    expect(await authFileHosts(authFile)).toEqual({});

    const from = server.requests.length;
    // --password-stdin, as the docs tell users to (the key never appears in the process list).
    expect(await runWithInput("podman", podmanArgs(tools, ["login", "--tls-verify=false", "--authfile", authFile, "-u", "acme", "--password-stdin", server.host]), tools.env, pushKey, 45_000)).toMatch(/Login Succeeded/);
    expect(Buffer.from((await authFileHosts(authFile))[server.host]?.auth ?? "", "base64").toString("utf8")).toBe(`acme:${pushKey}`);
    expect(tokenRequests(seenSince(from)).map((t) => [t.method, t.credentials, t.status])).toEqual([["GET", "basic", 200]]);
  });

  test("pushes with the stored login: every upload request carries a Bearer token", { timeout: TEST_TIMEOUT }, async () => {
    const loaded = (await podman("pull", "--quiet", `oci:${join(tools.dir, "layout")}:v1`)).trim();
    expect(`sha256:${loaded}`).toBe(configDigest);
    await podman("tag", loaded, imageRef(`${REPO}:1`));

    const from = server.requests.length;
    const digestFile = join(tools.dir, "pushed-digest");
    await podman("push", "--tls-verify=false", "--authfile", authFile, "--digestfile", digestFile, imageRef(`${REPO}:1`));
    pushedDigest = (await readFile(digestFile, "utf8")).trim();
    expect(pushedDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const seen = seenSince(from);
    const asked = tokenRequests(seen);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((t) => t.method === "GET" && t.credentials === "basic" && t.status === 200)).toBe(true);
    expect(asked.map((t) => t.scopes.join(" "))).toContain(`repository:${REPO}:pull,push`);
    const patches = seen.filter((r) => r.method === "PATCH" && r.path.startsWith(`/v2/${REPO}/blobs/uploads/`));
    expect(patches.length).toBeGreaterThanOrEqual(image.layerDigests.length);
    expect(patches.every((r) => r.status === 202 && r.headers.authorization?.startsWith("Bearer "))).toBe(true);
    expect(seen.filter((r) => r.path.startsWith("/v2/") && r.headers.authorization?.startsWith("Basic "))).toEqual([]);
  });

  test("pulls back by tag and by digest into an empty store", { timeout: TEST_TIMEOUT }, async () => {
    expect(pushedDigest).toBeDefined();
    await podman("rmi", "--all", "--force");
    expect(await imageIds()).toEqual([]);
    await podman("pull", "--quiet", "--tls-verify=false", "--authfile", authFile, imageRef(`${REPO}:1`));
    expect(await imageIds()).toEqual([configDigest]);
    const inspected = JSON.parse(await podman("image", "inspect", imageRef(`${REPO}:1`))) as { Digest: string }[];
    expect(inspected[0]!.Digest).toBe(pushedDigest);

    await podman("rmi", "--all", "--force");
    const byDigest = (await podman("pull", "--quiet", "--tls-verify=false", "--authfile", authFile, imageRef(`${REPO}@${pushedDigest}`))).trim();
    expect(`sha256:${byDigest}`).toBe(configDigest);
  });

  test("after logout the private repository cannot be pulled", { timeout: TEST_TIMEOUT }, async () => {
    expect(pushedDigest).toBeDefined();
    await podman("logout", "--authfile", authFile, server.host);
    expect(await authFileHosts(authFile)).toEqual({});
    await podman("rmi", "--all", "--force");

    const from = server.requests.length;
    const error = await failure(podman("pull", "--quiet", "--tls-verify=false", "--authfile", authFile, imageRef(`${REPO}:1`)));
    expect(error.stderr).toMatch(REFUSED);
    expect(await imageIds()).toEqual([]);
    // Anonymous now: the token grants nothing and the registry refuses it.
    const asked = tokenRequests(seenSince(from));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((t) => t.method === "GET" && t.credentials === "anonymous")).toBe(true);
  });

  test("podman asked /token with GET only", () => {
    const asked = tokenRequests(server.requests).filter((t) => t.userAgent.startsWith("containers/"));
    expect(asked.length).toBeGreaterThan(2);
    expect(new Set(asked.map((t) => t.method))).toEqual(new Set(["GET"]));
  });

});
