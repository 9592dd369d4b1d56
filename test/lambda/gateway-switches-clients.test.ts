import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { RunningServer } from "@stratus/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { AdminClient, failure } from "../clients/multi-tenant.ts";
import { layoutBlobs, layoutRef } from "../clients/server.ts";
import { describeWithTools, isolatedToolEnv, podmanArgs, run, type ToolEnv } from "../clients/tools.ts";
import { freePort } from "../support/free-ports.ts";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { ALL_PESSIMISTIC, type EmulatorOptions } from "./support/api-gateway-emulator.ts";
import { startLambdaDeployment, startUploadService, type LambdaDeployment } from "./support/lambda-deployment.ts";

// Real clients behind API Gateway's pessimistic answers where no AWS document settles the behaviour
// (issue 11 item 7; docs/lambda.md "Unsettled gateway behaviours"): each switch alone shows how a
// client fails without its remedy, and every switch at once with every remedy (a front restoring
// WWW-Authenticate, STRATUS_HEAD_REDIRECT, the upload service) shows skopeo and podman working.
// Images are small (a few hundred KiB): the behaviours, not the sizes, are under test here.

const KiB = 1024;
const REPO = "acme/app";
const TEST_TIMEOUT = 120_000;

interface Deployed {
  deployment: LambdaDeployment;
  host: string;
  pushKey: string;
  close(): Promise<void>;
}

/** The Lambda in multi-tenant mode behind the emulated gateway; tenant "acme" and a push key ready. */
async function deploy(emulator: Partial<EmulatorOptions>, remedies: { headRedirect?: boolean; uploadService?: boolean; multiTenant?: boolean } = {}): Promise<Deployed> {
  const multiTenant = remedies.multiTenant ?? true;
  const tokenSecrets = `signing-${randomBytes(32).toString("base64url")}`;
  const adminToken = `operator-${randomBytes(24).toString("base64url")}`;
  const uploadSecret = randomBytes(32).toString("hex");
  const uploadUrl = `http://127.0.0.1:${await freePort()}`;
  const deployment = await startLambdaDeployment({
    emulator,
    env: {
      ...(multiTenant ? { [LAMBDA_ENV.multiTenant]: "true", [LAMBDA_ENV.tokenSecrets]: tokenSecrets, [LAMBDA_ENV.adminToken]: adminToken } : {}),
      ...(remedies.headRedirect ? { [LAMBDA_ENV.headRedirect]: "true" } : {}),
      ...(remedies.uploadService ? { [LAMBDA_ENV.uploadUrl]: uploadUrl, [LAMBDA_ENV.uploadTokenSecret]: uploadSecret } : {}),
    },
  });
  let uploads: RunningServer | undefined;
  if (remedies.uploadService) uploads = await startUploadService(deployment, uploadUrl, uploadSecret, multiTenant ? { multiTenant: true, tokenSecrets } : {});
  let pushKey = "";
  if (multiTenant) {
    const admin = new AdminClient(deployment.url, adminToken);
    await admin.createTenant("acme");
    pushKey = await admin.createKey("acme", "push");
  }
  return {
    deployment,
    host: new URL(deployment.url).host,
    pushKey,
    close: async () => {
      await uploads?.close();
      await deployment.close();
    },
  };
}

/** The blob HEADs the gateway answered since `from`: path → status. */
const blobHeads = (d: Deployed, from: number) =>
  d.deployment.exchanges.slice(from).filter((e) => e.method === "HEAD" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(e.path));

describeWithTools(["skopeo"], "skopeo behind API Gateway's pessimistic answers (emulated)", () => {
  let tools: ToolEnv;
  let image: BuiltImage;
  let src: string;
  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 90_000);
  const login = (d: Deployed, authFile: string) => skopeo("login", "--tls-verify=false", "--authfile", authFile, "-u", "acme", "-p", d.pushKey, d.host);
  const push = (d: Deployed, authFile: string, tag: string) =>
    skopeo("copy", "--dest-tls-verify=false", "--dest-authfile", authFile, `oci:${src}:v1`, `docker://${d.host}/${REPO}:${tag}`);

  beforeAll(async () => {
    tools = await isolatedToolEnv("stratus-gateway-switches-");
    src = join(tools.dir, "src");
    image = await buildImageLayout(src, "v1", [16 * KiB, 300 * KiB]);
  });
  afterAll(async () => {
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  describe("each switch without its remedy", () => {
    test("remapWwwAuthenticate: the 401 carries no challenge, so login fails", { timeout: TEST_TIMEOUT }, async () => {
      const d = await deploy({ remapWwwAuthenticate: true });
      try {
        const res = await fetch(`${d.deployment.url}/v2/`);
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toBeNull();
        expect(res.headers.get("x-amzn-remapped-www-authenticate")).toMatch(/^Bearer realm="/);
        // skopeo blames the credentials: with no challenge it never asks /token for a token.
        const refused = await failure(login(d, join(tools.dir, "auth-remapped.json")));
        expect(refused.stderr).toMatch(/invalid username\/password|unauthorized|401/i);
      } finally {
        await d.close();
      }
    });

    // skopeo (containers/image) takes a blob HEAD without Content-Length as "size unknown"; docker's
    // classic push refuses it ("missing content-length header", distribution's blobStatter), which
    // no client here can show: docs/lambda.md lists who needs the size.
    test("dropHeadContentLength: skopeo pushes again over blob HEADs without Content-Length", { timeout: TEST_TIMEOUT }, async () => {
      const d = await deploy({ dropHeadContentLength: true });
      try {
        const authFile = join(tools.dir, "auth-drop.json");
        await login(d, authFile);
        await push(d, authFile, "v1"); // every blob HEAD is a 404 on the first push: no size needed
        const from = d.deployment.exchanges.length;
        await push(d, authFile, "v2");
        expect(blobHeads(d, from).length).toBeGreaterThan(0);
        expect(blobHeads(d, from).every((e) => e.status === 200)).toBe(true);
      } finally {
        await d.close();
      }
    });

    test("rejectChunkedRequests: skopeo sends each layer with a Content-Length, so its push is unaffected", { timeout: TEST_TIMEOUT }, async () => {
      const d = await deploy({ rejectChunkedRequests: true });
      try {
        const authFile = join(tools.dir, "auth-chunked.json");
        await login(d, authFile);
        await push(d, authFile, "v1");
        const patches = d.deployment.exchanges.filter((e) => e.method === "PATCH");
        expect(patches.length).toBeGreaterThan(0);
        expect(patches.every((e) => e.by === "lambda" && e.status === 202)).toBe(true);
      } finally {
        await d.close();
      }
    });
  });

  test(
    "every pessimistic answer, with a challenge-restoring front, STRATUS_HEAD_REDIRECT and the upload service: login, push, push again, pull",
    { timeout: TEST_TIMEOUT },
    async () => {
      const d = await deploy({ ...ALL_PESSIMISTIC, restoreWwwAuthenticate: true }, { headRedirect: true, uploadService: true });
      try {
        const authFile = join(tools.dir, "auth-remedies.json");
        expect(await login(d, authFile)).toMatch(/Login Succeeded/);
        await push(d, authFile, "v1");
        // The second push finds every blob: each HEAD answers 307 to S3, whose answer carries the size.
        const from = d.deployment.exchanges.length;
        await push(d, authFile, "v2");
        const heads = blobHeads(d, from);
        expect(heads.length).toBeGreaterThanOrEqual(image.layerDigests.length);
        expect(heads.every((e) => e.status === 307)).toBe(true);

        const out = join(tools.dir, "out-remedies");
        await skopeo("copy", "--src-tls-verify=false", "--src-authfile", authFile, `docker://${d.host}/${REPO}:v2`, `oci:${out}:v1`);
        expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
        for (const [digest, blob] of await layoutBlobs(out)) expect(blob.contentDigest, `content of ${digest}`).toBe(digest);
      } finally {
        await d.close();
      }
    },
  );
});

describeWithTools(["podman"], "podman behind a gateway that refuses chunked requests (emulated)", () => {
  let tools: ToolEnv;
  let image: BuiltImage;
  let loaded: string;
  const podman = (...args: string[]) => run("podman", podmanArgs(tools, args), tools.env, 120_000);
  const push = (d: Deployed, tag: string) => podman("push", "--tls-verify=false", "--creds", `acme:${d.pushKey}`, loaded, `${d.host}/${REPO}:${tag}`);

  beforeAll(async () => {
    tools = await isolatedToolEnv("stratus-gw-");
    const layout = join(tools.dir, "layout");
    image = await buildImageLayout(layout, "v1", [16 * KiB, 300 * KiB]);
    loaded = (await podman("pull", "--quiet", `oci:${layout}:v1`)).trim();
  }, TEST_TIMEOUT);
  afterAll(async () => {
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("without the upload service, podman's chunked PATCH gets the gateway's 411 and the push fails", { timeout: TEST_TIMEOUT }, async () => {
    const d = await deploy({ rejectChunkedRequests: true });
    try {
      const refused = await failure(push(d, "v1"));
      expect(refused.stderr).toMatch(/411|Length Required/i);
      expect(d.deployment.exchanges.some((e) => e.method === "PATCH" && e.status === 411 && e.by === "gateway")).toBe(true);
    } finally {
      await d.close();
    }
  });

  test("with the upload service, the chunked PATCHes go there and the push succeeds", { timeout: TEST_TIMEOUT }, async () => {
    const d = await deploy({ ...ALL_PESSIMISTIC, restoreWwwAuthenticate: true }, { headRedirect: true, uploadService: true });
    try {
      await push(d, "v1");
      // No PATCH reached the gateway: the POST's Location sent podman to the upload service.
      expect(d.deployment.exchanges.filter((e) => e.method === "PATCH")).toEqual([]);
      expect(d.deployment.exchanges.some((e) => e.method === "POST" && e.status === 202)).toBe(true);
      // And back: the same image (config digest) from the registry.
      await podman("rmi", "--force", loaded);
      const pulled = (await podman("pull", "--quiet", "--tls-verify=false", "--creds", `acme:${d.pushKey}`, `${d.host}/${REPO}:v1`)).trim();
      expect(pulled).toBe(loaded);
      expect(`sha256:${pulled}`).toBe((JSON.parse(Buffer.from(image.manifest).toString("utf8")) as { config: { digest: string } }).config.digest);
    } finally {
      await d.close();
    }
  });
});
