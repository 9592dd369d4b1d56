import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import type { RunningServer } from "@stratus/server";
import { createS3Client } from "@stratus/storage-aws";
import { afterAll, beforeAll, expect, test } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { awsBackends } from "../aws/support/backends.ts";
import { failure } from "../clients/multi-tenant.ts";
import { layoutBlobs, layoutRef, recordRequests, type SeenRequest } from "../clients/server.ts";
import { describeWithTools, isolatedToolEnv, run, type ToolEnv } from "../clients/tools.ts";
import { DEFAULT_SERVICE, MultiTenantClient, bearer, type ApiKey } from "../multi-tenant/deployment.ts";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { freePort } from "../support/free-ports.ts";
import { startLambdaDeployment, startUploadService, type LambdaDeployment } from "./support/lambda-deployment.ts";

// The production shape, multi-tenant: the registry Lambda behind the API Gateway emulation and the
// upload service (the Node server on the same bucket and table), both in multi-tenant mode with the
// same token signing secrets; the upload service has no operator token, as the CDK stack deploys it
// (stacks/src/upload-service.ts). skopeo logs in with an API key and pushes; the layer's bytes go to
// the upload service on the signed link the Lambda's POST answered (core/src/http/upload-links.ts),
// and the tenant's storage limit is enforced there, at the commit.

const MiB = 1024 * 1024;
const REPO = "acme/app";
const LAYER = 12 * MiB;
const TEST_TIMEOUT = 60_000;

describeWithTools(["skopeo"], "multi-tenant: skopeo through the Lambda and the upload service", () => {
  let deployment: LambdaDeployment;
  let uploads: RunningServer;
  let uploadUrl: string;
  let client: MultiTenantClient;
  let tools: ToolEnv;
  let image: BuiltImage;
  let src: string;
  let authFile: string;
  let pushKey: ApiKey;
  /** What the upload service answered, as test/clients/multi-tenant.ts records a server. */
  let uploadRequests: SeenRequest[] = [];

  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, TEST_TIMEOUT);
  const ref = (repoAndTag: string) => `docker://${new URL(deployment.url).host}/${repoAndTag}`;
  const push = () => skopeo("copy", "--dest-tls-verify=false", "--dest-authfile", authFile, `oci:${src}:v1`, ref(`${REPO}:v1`));
  const storedBytes = async () => {
    const res = await client.admin("GET", "/admin/v1/tenants/acme/usage");
    expect(res.status).toBe(200);
    const usage = (await res.json()) as { plan: string; storedBytes: { used: number; limit: number | null } };
    return { plan: usage.plan, ...usage.storedBytes };
  };
  /** Every object and unfinished multipart upload in the deployment's bucket. */
  const bucketContents = async () => {
    const b = awsBackends();
    const s3 = createS3Client({ region: b.region, endpoint: b.s3Endpoint });
    try {
      const Bucket = deployment.env[LAMBDA_ENV.bucket]!;
      const [objects, multipart] = await Promise.all([s3.send(new ListObjectsV2Command({ Bucket })), s3.send(new ListMultipartUploadsCommand({ Bucket }))]);
      return { objects: (objects.Contents ?? []).map((o) => o.Key), multipart: (multipart.Uploads ?? []).map((u) => u.Key) };
    } finally {
      s3.destroy();
    }
  };
  /** The gateway's requests on upload sessions other than the POST that opens them: none should carry blob bytes. */
  const sessionRequestsViaGateway = (from: number) =>
    deployment.exchanges.slice(from).filter((e) => e.path.includes("/blobs/uploads/") && e.method !== "POST");

  beforeAll(async () => {
    const tokenSecrets = `signing-${randomBytes(32).toString("base64url")}`;
    const adminToken = `operator-${randomBytes(24).toString("base64url")}`;
    const uploadSecret = randomBytes(32).toString("hex");
    uploadUrl = `http://127.0.0.1:${await freePort()}`;
    deployment = await startLambdaDeployment({
      env: {
        [LAMBDA_ENV.multiTenant]: "true",
        [LAMBDA_ENV.tokenSecrets]: tokenSecrets,
        [LAMBDA_ENV.adminToken]: adminToken,
        [LAMBDA_ENV.uploadUrl]: uploadUrl,
        [LAMBDA_ENV.uploadTokenSecret]: uploadSecret,
      },
    });
    uploads = await startUploadService(deployment, uploadUrl, uploadSecret, { multiTenant: true, tokenSecrets });
    uploadRequests = recordRequests(uploads);
    client = new MultiTenantClient({ url: deployment.url.replace(/\/+$/, ""), adminToken, tokenSecrets, service: DEFAULT_SERVICE, close: async () => {} });

    await client.putPlan("tiny", { repositories: null, storedBytes: 8_000_000, manifestsPerRepository: null });
    await client.createTenant("acme", "tiny");
    await client.createTenant("globex");
    pushKey = await client.createKey("acme", "push");

    tools = await isolatedToolEnv("stratus-mt-upload-service-");
    src = join(tools.dir, "src");
    image = await buildImageLayout(src, "v1", [LAYER]);
    authFile = join(tools.dir, "auth-acme.json");
    const host = new URL(deployment.url).host;
    expect(await skopeo("login", "--tls-verify=false", "--authfile", authFile, "-u", "acme", "-p", pushKey.key, host)).toMatch(/Login Succeeded/);
  }, 120_000);

  afterAll(async () => {
    await uploads?.close();
    await deployment?.close();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("the upload service refuses a layer past the plan's storage, and nothing is left", { timeout: TEST_TIMEOUT }, async () => {
    const [layer] = image.layerDigests;
    const from = deployment.exchanges.length;
    const refused = await failure(push());

    // 403 DENIED from the upload service, naming the limit: skopeo shows the registry's message.
    expect(refused.stderr).toMatch(/denied/i);
    // Staged bytes count against the plan: the PATCH carrying the layer is refused, before the PUT.
    expect(refused.stderr).toMatch(/12\.6 MB more would take tenant acme to 12\.6 MB of its 8 MB \(0 bytes stored\); the upload was discarded/);
    const sent = uploadRequests.filter((r) => ["PATCH", "PUT"].includes(r.method) && r.path.startsWith(`/v2/${REPO}/blobs/uploads/`));
    expect(sent.map((r) => `${r.method} ${r.status}`)).toEqual(["PATCH 403"]);
    // Every request the upload service saw came on the signed link, with its token.
    expect(uploadRequests.length).toBeGreaterThan(0);
    expect(uploadRequests.every((r) => r.query.has("_state"))).toBe(true);
    // The layer's bytes went there: the gateway saw no PATCH and no PUT on the session, and no manifest.
    expect(sessionRequestsViaGateway(from)).toEqual([]);
    expect(deployment.exchanges.slice(from).some((e) => e.method === "POST" && e.status === 202)).toBe(true);
    expect(deployment.exchanges.slice(from).some((e) => e.method === "PUT" && e.path.includes("/manifests/"))).toBe(false);

    expect(await storedBytes()).toEqual({ plan: "tiny", used: 0, limit: 8_000_000 });
    const { token } = await client.token(pushKey, [`repository:${REPO}:pull`]);
    expect((await client.send("HEAD", `/v2/${REPO}/blobs/${layer}`, bearer(token))).status).toBe(404);
    // Neither the refused blob, nor its digest index entry, nor a staged part or tail is left in S3.
    expect(await bucketContents()).toEqual({ objects: [], multipart: [] });
  });

  test("on a plan with room the same push succeeds and pulls back by redirect", { timeout: TEST_TIMEOUT }, async () => {
    await client.putPlan("roomy", { repositories: null, storedBytes: 100_000_000, manifestsPerRepository: null });
    const patched = await client.admin("PATCH", "/admin/v1/tenants/acme", { plan: "roomy" });
    expect(patched.status).toBe(200);

    const from = deployment.exchanges.length;
    const upFrom = uploadRequests.length;
    await push();
    expect(sessionRequestsViaGateway(from)).toEqual([]);
    expect(uploadRequests.slice(upFrom).filter((r) => r.method === "PUT").map((r) => r.status)).toEqual([201, 201]);

    const out = join(tools.dir, "out");
    const pullFrom = deployment.exchanges.length;
    await skopeo("copy", "--src-tls-verify=false", "--src-authfile", authFile, ref(`${REPO}:v1`), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    const pulled = await layoutBlobs(out);
    for (const [digest, blob] of pulled) expect(blob.contentDigest, `content of ${digest}`).toBe(digest);
    const pushed = await layoutBlobs(src);
    expect([...pulled.keys()].sort()).toEqual([...pushed.keys()].sort());

    // Every blob GET through the gateway was a 307 to radosgw, carrying no bytes.
    const blobGets = deployment.exchanges.slice(pullFrom).filter((e) => e.method === "GET" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(e.path));
    expect(blobGets.length).toBeGreaterThanOrEqual(2);
    for (const e of blobGets) expect(e.status).toBe(307);
    expect(Math.max(...deployment.exchanges.map((e) => e.bodyBytes))).toBeLessThan(64 * 1024);

    // Stored: the layer, the config and the manifest, once each.
    const total = [...pushed.values()].reduce((sum, b) => sum + b.size, 0);
    expect(await storedBytes()).toEqual({ plan: "roomy", used: total, limit: 100_000_000 });
  });

  test("an upload link grants its own session of its own repository only", { timeout: TEST_TIMEOUT }, async () => {
    const { token } = await client.token(pushKey, [`repository:${REPO}:pull,push`]);
    const open = async () => {
      const res = await client.send("POST", `/v2/${REPO}/blobs/uploads/`, bearer(token));
      expect(res.status).toBe(202);
      const location = new URL(res.headers.get("location")!);
      expect(location.origin).toBe(uploadUrl);
      const id = /\/blobs\/uploads\/([0-9a-f-]{36})$/.exec(location.pathname)![1]!;
      return { location, id, state: location.searchParams.get("_state")! };
    };
    const patch = (path: string, query = "") =>
      fetch(`${uploadUrl}${path}${query}`, { method: "PATCH", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(randomBytes(16)) });
    const refusal = async (res: Response) => ({ status: res.status, codes: ((await res.json()) as { errors: { code: string }[] }).errors.map((e) => e.code) });
    const refusedLink = { status: 401, codes: ["UNAUTHORIZED"] };

    const first = await open();
    const second = await open();
    const withLink = `?_state=${first.state}`;
    // The link names one repository: not another path of the tenant, not another tenant's repository.
    expect(await refusal(await patch(`/v2/acme/other/blobs/uploads/${first.id}`, withLink))).toEqual(refusedLink);
    expect(await refusal(await patch(`/v2/globex/app/blobs/uploads/${first.id}`, withLink))).toEqual(refusedLink);
    // ... and one session: not another session of the same repository.
    expect(await refusal(await patch(`/v2/${REPO}/blobs/uploads/${second.id}`, withLink))).toEqual(refusedLink);

    // Without the link the upload service asks for a token, as the registry does (docs/auth.md).
    const bare = await patch(`/v2/${REPO}/blobs/uploads/${first.id}`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get("www-authenticate")).toMatch(/^Bearer realm="[^"]+\/token",service="stratus"/);
    expect((await refusal(bare)).codes).toEqual(["UNAUTHORIZED"]);

    // The link on its own session still works: none of the refusals touched it.
    const own = await patch(first.location.pathname, withLink);
    expect(own.status).toBe(202);
    expect(own.headers.get("range")).toBe("0-15");
    const cancelled = await fetch(`${uploadUrl}${first.location.pathname}${withLink}`, { method: "DELETE" });
    expect(cancelled.status).toBe(204);
  });

  test("an upload link dies with its tenant: deleted and created again under the same name, the old link is refused", { timeout: TEST_TIMEOUT }, async () => {
    const tenant = "initech";
    await client.createTenant(tenant);
    const key = await client.createKey(tenant, "push");
    const { token } = await client.token(key, [`repository:${tenant}/app:pull,push`]);
    const started = await client.send("POST", `/v2/${tenant}/app/blobs/uploads/`, bearer(token));
    expect(started.status).toBe(202);
    const link = new URL(started.headers.get("location")!);
    expect(link.origin).toBe(uploadUrl);

    expect((await client.admin("DELETE", `/admin/v1/tenants/${tenant}`)).status).toBe(204);
    await client.createTenant(tenant);
    const data = new Uint8Array(randomBytes(64));
    const patched = await fetch(link, { method: "PATCH", headers: { "content-type": "application/octet-stream" }, body: data });
    expect(patched.status).toBe(401);
    expect(((await patched.json()) as { errors: { code: string; message: string }[] }).errors[0]!.message).toMatch(/tenant that was deleted/);
    // Nothing landed in the new tenant.
    const usage = (await (await client.admin("GET", `/admin/v1/tenants/${tenant}/usage`)).json()) as { repositories: { used: number }; storedBytes: { used: number } };
    expect(usage.repositories.used).toBe(0);
    expect(usage.storedBytes.used).toBe(0);
  });
});
