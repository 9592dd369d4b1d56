import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { AdminClient, authFileHosts, failure, startRecordingRelay, tokenRequests } from "../clients/multi-tenant.ts";
import { layoutBlobs, layoutRef, sha256, type SeenRequest } from "../clients/server.ts";
import { describeWithTools, isolatedToolEnv, run, type ToolEnv } from "../clients/tools.ts";
import { startLambdaMultiTenant, type MultiTenantDeployment } from "../multi-tenant/deployment.ts";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";

// skopeo through the login flow of the registry Lambda in multi-tenant mode, behind the API Gateway
// emulation, on DynamoDB Local and radosgw: login, push a 2-layer image, pull it back, anonymous pull
// once the repository is public. The same flow as test/clients/skopeo-auth.test.ts, on the AWS side.
//
// The deployment is test/multi-tenant/deployment.ts's: the emulator routes only /v2 (the stack routes
// every path), so it tunnels /token and /admin to the function. A recording relay in front of it shows
// what skopeo sent; the challenge's realm names the relay, since the function builds it from the Host
// header the client sent.

const REPO = "acme/app";
const REFUSED = /unauthorized|denied|authentication required|invalid username\/password/i;
const TEST_TIMEOUT = 120_000;

describeWithTools(["skopeo"], "skopeo through the token flow of the Lambda behind API Gateway (emulated)", () => {
  let deployment: MultiTenantDeployment;
  let relay: Awaited<ReturnType<typeof startRecordingRelay>>;
  let tools: ToolEnv;
  let image: BuiltImage;
  let src: string;
  let pushKey: string;
  let authFile: string;

  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 90_000);
  const ref = (repoAndTag: string) => `docker://${relay.host}/${repoAndTag}`;
  const inspectDigest = async (authArgs: string[], repoAndTag: string) =>
    (await skopeo("inspect", "--tls-verify=false", ...authArgs, "--format", "{{.Digest}}", ref(repoAndTag))).trim();
  const seenSince = (from: number): SeenRequest[] => relay.requests.slice(from);

  beforeAll(async () => {
    deployment = await startLambdaMultiTenant();
    relay = await startRecordingRelay(deployment.url);
    tools = await isolatedToolEnv("stratus-lambda-skopeo-auth-");
    authFile = join(tools.dir, "auth-acme.json");
    src = join(tools.dir, "src-image");
    image = await buildImageLayout(src, "v1", [16 * 1024, 48 * 1024]);
    const admin = new AdminClient(deployment.url, deployment.adminToken);
    await admin.createTenant("acme");
    pushKey = await admin.createKey("acme", "push");
  });

  afterAll(async () => {
    await relay?.close();
    await deployment?.close();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("login refuses a wrong key and accepts the push key", { timeout: TEST_TIMEOUT }, async () => {
    const wrong = await failure(skopeo("login", "--tls-verify=false", "--authfile", authFile, "-u", "acme", "-p", `stratus_${"c".repeat(16)}_${"C".repeat(43)}`, relay.host));
    expect(wrong.stderr).toMatch(/invalid username\/password|unauthorized/i);
    expect(await authFileHosts(authFile)).toEqual({});

    const from = relay.requests.length;
    expect(await skopeo("login", "--tls-verify=false", "--authfile", authFile, "-u", "acme", "-p", pushKey, relay.host)).toMatch(/Login Succeeded/);
    const seen = seenSince(from);
    expect(seen.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(["GET /v2/ 401", "GET /token 200", "GET /v2/ 200"]);
    // The challenge sends the client to /token on the host it addressed.
    expect(relay.requests.find((r) => r.path === "/v2/" && r.status === 401)?.headers.host).toBe(relay.host);
  });

  test("pushes a 2-layer image with the login and pulls it back", { timeout: TEST_TIMEOUT }, async () => {
    const from = relay.requests.length;
    await skopeo("copy", "--dest-tls-verify=false", "--dest-authfile", authFile, `oci:${src}:v1`, ref(`${REPO}:1`));
    expect(await inspectDigest(["--authfile", authFile], `${REPO}:1`)).toBe(image.manifestDigest);
    const raw = await skopeo("inspect", "--tls-verify=false", "--authfile", authFile, "--raw", ref(`${REPO}:1`));
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);

    const out = join(tools.dir, "out-login");
    await skopeo("copy", "--src-tls-verify=false", "--src-authfile", authFile, ref(`${REPO}:1`), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    for (const [digest, blob] of await layoutBlobs(out)) expect(blob.contentDigest, `content of ${digest}`).toBe(digest);

    const seen = seenSince(from);
    const asked = tokenRequests(seen);
    expect(asked.every((t) => t.method === "GET" && t.credentials === "basic" && t.status === 200)).toBe(true);
    expect(asked.map((t) => t.scopes.join(" "))).toContain(`repository:${REPO}:pull,push`);
    // Blob GETs with a Bearer token answer 307 to a presigned S3 URL; skopeo follows it to radosgw.
    const blobGets = seen.filter((r) => r.method === "GET" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(r.path));
    expect(blobGets.length).toBeGreaterThanOrEqual(image.layerDigests.length + 1);
    expect(blobGets.every((r) => r.status === 307 && r.headers.authorization?.startsWith("Bearer "))).toBe(true);
  });

  test("anonymous: refused while private; pull works once public; push stays refused", { timeout: TEST_TIMEOUT }, async () => {
    expect((await failure(inspectDigest(["--no-creds"], `${REPO}:1`))).stderr).toMatch(REFUSED);

    await new AdminClient(deployment.url, deployment.adminToken).setVisibility(REPO, "public");
    const from = relay.requests.length;
    expect(await inspectDigest(["--no-creds"], `${REPO}:1`)).toBe(image.manifestDigest);
    const out = join(tools.dir, "out-anonymous");
    await skopeo("copy", "--src-tls-verify=false", "--src-no-creds", ref(`${REPO}:1`), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    for (const [digest, blob] of await layoutBlobs(out)) expect(blob.contentDigest, `content of ${digest}`).toBe(digest);
    const asked = tokenRequests(seenSince(from));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((t) => t.method === "GET" && t.credentials === "anonymous" && t.status === 200)).toBe(true);

    const push = await failure(skopeo("copy", "--dest-tls-verify=false", "--dest-no-creds", `oci:${src}:v1`, ref(`${REPO}:anonymous`)));
    expect(push.stderr).toMatch(REFUSED);
  });
});
