import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { RunningServer } from "@stratus/server";
import { afterAll, beforeAll, expect, test } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { layoutBlobs, layoutRef } from "../clients/server.ts";
import { describeWithTools, isolatedToolEnv, run, type ToolEnv } from "../clients/tools.ts";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { startLambdaDeployment, startUploadService, type LambdaDeployment } from "./support/lambda-deployment.ts";
import { freePort } from "../support/free-ports.ts";

// The serverless shape end to end: the Lambda behind the API Gateway emulation answers the upload
// POST with a Location on the upload service (the Node server on the same S3 bucket and DynamoDB
// table) carrying a signed token; skopeo streams a 200 MiB layer there, far over Lambda's limit,
// and pulls it back from radosgw through the 307 — the blob bytes never pass through the handler.

const MiB = 1024 * 1024;


describeWithTools(["skopeo"], "skopeo through the Lambda and the upload service", () => {
  let deployment: LambdaDeployment;
  let uploads: RunningServer;
  let tools: ToolEnv;
  let image: BuiltImage;

  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 300_000);
  const ref = (repoAndTag: string) => `docker://${new URL(deployment.url).host}/${repoAndTag}`;

  beforeAll(async () => {
    const secret = randomBytes(32).toString("hex");
    const uploadUrl = `http://127.0.0.1:${await freePort()}`;
    deployment = await startLambdaDeployment({ env: { [LAMBDA_ENV.uploadUrl]: uploadUrl, [LAMBDA_ENV.uploadTokenSecret]: secret } });
    uploads = await startUploadService(deployment, uploadUrl, secret);
    tools = await isolatedToolEnv("stratus-upload-service-");
    image = await buildImageLayout(join(tools.dir, "src"), "v1", [200 * MiB, 1 * MiB]);
  }, 180_000);

  afterAll(async () => {
    await uploads?.close();
    await deployment?.close();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("pushes a 200 MiB layer through the upload service and pulls it back by redirect", { timeout: 300_000 }, async () => {
    const src = join(tools.dir, "src");
    await skopeo("copy", "--dest-tls-verify=false", `oci:${src}:v1`, ref("stratus/big:v1"));

    // The layers' bytes went to the upload service: the gateway saw no PATCH and no body-carrying PUT.
    const viaGateway = deployment.exchanges.filter((e) => e.path.includes("/blobs/uploads/") && e.method !== "POST");
    expect(viaGateway).toEqual([]);
    expect(deployment.exchanges.some((e) => e.method === "POST" && e.status === 202)).toBe(true);

    const out = join(tools.dir, "out");
    await skopeo("copy", "--src-tls-verify=false", ref("stratus/big:v1"), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    const pulled = await layoutBlobs(out);
    for (const [digest, blob] of pulled) expect(blob.contentDigest).toBe(digest);
    expect([...pulled.keys()].sort()).toEqual([...(await layoutBlobs(src)).keys()].sort());

    // Every blob GET through the gateway was a 307 carrying no bytes.
    const blobGets = deployment.exchanges.filter((e) => e.method === "GET" && /\/blobs\/sha256:/.test(e.path));
    expect(blobGets.length).toBeGreaterThanOrEqual(3);
    for (const e of blobGets) expect(e.status).toBe(307);
    expect(Math.max(...deployment.exchanges.map((e) => e.bodyBytes))).toBeLessThan(64 * 1024);
  });
});
