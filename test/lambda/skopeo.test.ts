import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { layoutBlobs, layoutRef, sha256 } from "../clients/server.ts";
import { describeWithTools, isolatedToolEnv, run, type ToolEnv } from "../clients/tools.ts";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { startLambdaDeployment, type LambdaDeployment } from "./support/lambda-deployment.ts";

// skopeo through the Lambda behind the API Gateway emulation, on radosgw and DynamoDB Local.
//
// Layers are small on purpose: skopeo sends each layer in ONE PATCH (DESIGN.md "How clients upload
// blobs"), and a request carries at most ~4.5 MiB of raw bytes into a Lambda (6 MiB payload, base64).
// A larger layer needs the upload service (STRATUS_UPLOAD_URL), which is not part of this deployment;
// limits.test.ts shows what such a PATCH gets here. Pulls must not move blob bytes through the Lambda:
// every blob GET answers 307 to a presigned S3 URL.

const MiB = 1024 * 1024;

describeWithTools(["skopeo"], "skopeo against the Lambda behind API Gateway (emulated)", () => {
  let deployment: LambdaDeployment;
  let tools: ToolEnv;
  let image: BuiltImage;

  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 180_000);
  const ref = (repoAndTag: string) => `docker://${new URL(deployment.url).host}/${repoAndTag}`;

  beforeAll(async () => {
    deployment = await startLambdaDeployment();
    tools = await isolatedToolEnv("stratus-lambda-skopeo-");
    image = await buildImageLayout(join(tools.dir, "src-image"), "v1", [20 * 1024, 1 * MiB, 3 * MiB]);
  });

  afterAll(async () => {
    await deployment?.close();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("pushes a multi-layer image and pulls it back byte for byte, blob bytes by 307 only", async () => {
    const src = join(tools.dir, "src-image");
    await skopeo("copy", "--dest-tls-verify=false", `oci:${src}:v1`, ref("stratus/app:v1"));
    const raw = await skopeo("inspect", "--tls-verify=false", "--raw", ref("stratus/app:v1"));
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);

    const pullStart = deployment.exchanges.length;
    const out = join(tools.dir, "out-image");
    await skopeo("copy", "--src-tls-verify=false", ref("stratus/app:v1"), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    const pulled = await layoutBlobs(out);
    const original = await layoutBlobs(src);
    expect([...pulled.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [digest, blob] of pulled) expect(blob.contentDigest).toBe(digest);

    // Config and layers: each fetched with one GET that the Lambda answered 307.
    const blobGets = deployment.exchanges.slice(pullStart).filter((e) => e.method === "GET" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(e.path));
    const byStatus: Record<number, number> = {};
    for (const e of blobGets) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
    expect(byStatus).toEqual({ 307: image.layerDigests.length + 1 });
    expect(blobGets.every((e) => e.by === "lambda" && e.bodyBytes < 1024)).toBe(true);
  });
});
