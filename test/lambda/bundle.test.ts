import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleLambda } from "../../scripts/lambda-bundle.ts";
import { startApiGatewayEmulator, type LambdaHandler, type RunningEmulator } from "./support/api-gateway-emulator.ts";
import { startLambdaDeployment, type LambdaDeployment } from "./support/lambda-deployment.ts";

// What is deployed is the esbuild bundle, not the sources: bundle it as `cdk deploy` and `npm run build`
// do (CDK's NodejsFunction bundling with stacks/src/lambda-bundling.ts), import
// its `handler` with the function's environment in process.env (as the Lambda runtime does), and push
// and pull a blob through it behind the emulation.

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

describe("the bundled registry function (esbuild output)", () => {
  let dir: string;
  let storage: LambdaDeployment;
  let emulator: RunningEmulator;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "stratus-lambda-bundle-"));
    const outfile = join(dir, "index.mjs");
    // A deployment only for its bucket, table and environment; the bundle serves the requests.
    [storage] = await Promise.all([startLambdaDeployment(), bundleLambda(join(ROOT, "packages/lambda/src/index.ts"), outfile)]);
    Object.assign(process.env, storage.env);
    const { handler } = (await import(pathToFileURL(outfile).href)) as { handler: LambdaHandler };
    emulator = await startApiGatewayEmulator({ handler });
  });
  afterAll(async () => {
    await Promise.all([emulator?.close(), storage?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers /v2/, takes a monolithic upload and redirects the blob GET to S3", async () => {
    const base = await fetch(`${emulator.url}/v2/`);
    expect(base.status).toBe(200);
    expect(base.headers.get("docker-distribution-api-version")).toBe("registry/2.0");

    const bytes = randomBytes(300_000);
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const put = await fetch(`${emulator.url}/v2/bundle/app/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes, headers: { "content-type": "application/octet-stream" } });
    expect(put.status).toBe(201);

    const get = await fetch(`${emulator.url}/v2/bundle/app/blobs/${digest}`, { redirect: "manual" });
    expect(get.status).toBe(307);
    const fromS3 = await fetch(get.headers.get("location")!);
    expect(Buffer.from(await fromS3.arrayBuffer()).equals(bytes)).toBe(true);
  });
});
