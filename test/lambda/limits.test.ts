import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAMBDA_CHUNK_MIN_LENGTH, LAMBDA_MAX_RAW_BODY } from "../../packages/lambda/src/registry-handler.ts";
import { startApiGatewayEmulator } from "./support/api-gateway-emulator.ts";
import { startLambdaDeployment, type LambdaDeployment } from "./support/lambda-deployment.ts";

// The platform limits, through the emulation: what a client sees at each of them, and that uploads
// whose requests fit complete in Lambda, chunked ones included (state in DynamoDB between requests).

const MiB = 1024 * 1024;
const digestOf = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("Lambda limits behind API Gateway (emulated)", () => {
  let deployment: LambdaDeployment;
  let wide: LambdaDeployment;

  beforeAll(async () => {
    [deployment, wide] = await Promise.all([
      startLambdaDeployment(),
      // A front end that would hand the function more than 6 MiB (API Gateway never does).
      startLambdaDeployment({ emulator: { maxPayloadBytes: 64 * MiB } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([deployment?.close(), wide?.close()]);
  });

  async function startUpload(base: string, name: string): Promise<URL> {
    const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: "POST" });
    expect(res.status).toBe(202);
    return new URL(res.headers.get("location")!, base);
  }

  it("advertises a 4 MiB OCI-Chunk-Min-Length: a chunk that size fits a Lambda request", async () => {
    const res = await fetch(`${deployment.url}/v2/limits/min/blobs/uploads/`, { method: "POST" });
    expect(Number(res.headers.get("oci-chunk-min-length"))).toBe(LAMBDA_CHUNK_MIN_LENGTH);
    expect(LAMBDA_CHUNK_MIN_LENGTH).toBeLessThan(LAMBDA_MAX_RAW_BODY);
  });

  it("a 10 MiB blob in 4 MiB chunks (PATCH with Content-Range) completes in Lambda", async () => {
    const blob = randomBytes(10 * MiB);
    let location = await startUpload(deployment.url, "limits/chunked");
    for (let offset = 0; offset < blob.length; offset += LAMBDA_CHUNK_MIN_LENGTH) {
      const chunk = blob.subarray(offset, Math.min(offset + LAMBDA_CHUNK_MIN_LENGTH, blob.length));
      const res = await fetch(location, {
        method: "PATCH",
        headers: { "content-type": "application/octet-stream", "content-range": `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
      });
      expect(res.status).toBe(202);
      expect(res.headers.get("range")).toBe(`0-${offset + chunk.length - 1}`);
      location = new URL(res.headers.get("location")!, deployment.url);
    }
    location.searchParams.set("digest", digestOf(blob));
    const done = await fetch(location, { method: "PUT" });
    expect(done.status).toBe(201);
    const head = await fetch(`${deployment.url}/v2/limits/chunked/blobs/${digestOf(blob)}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(blob.length));
  });

  it("a 5 MiB PATCH (over 6 MiB once base64) gets API Gateway's bare 500: the invoke fails before the registry runs", async () => {
    const location = await startUpload(deployment.url, "limits/over-payload");
    const res = await fetch(location, { method: "PATCH", headers: { "content-type": "application/octet-stream" }, body: randomBytes(5 * MiB) });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ message: "Internal Server Error" });
    expect(deployment.exchanges.at(-1)?.by).toBe("gateway");
  });

  it("an 11 MiB PATCH gets API Gateway's own 413 (10 MB body limit)", async () => {
    const location = await startUpload(deployment.url, "limits/over-body");
    const res = await fetch(location, { method: "PATCH", headers: { "content-type": "application/octet-stream" }, body: randomBytes(11 * MiB) });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ message: "Request Entity Too Large" });
  });

  it("a body over the Lambda limit that does reach the function gets an OCI error naming the limit and the upload service", async () => {
    const location = await startUpload(wide.url, "limits/handler-guard");
    const res = await fetch(location, { method: "PATCH", headers: { "content-type": "application/octet-stream" }, body: randomBytes(5 * MiB) });
    expect(res.status).toBe(413);
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    const body = (await res.json()) as { errors: { code: string; message: string; detail: { limit: number } }[] };
    expect(body.errors[0]!.code).toBe("BLOB_UPLOAD_INVALID");
    expect(body.errors[0]!.detail.limit).toBe(LAMBDA_MAX_RAW_BODY);
    expect(body.errors[0]!.message).toContain(String(LAMBDA_MAX_RAW_BODY));
    expect(body.errors[0]!.message).toContain("upload service");
    expect(body.errors[0]!.message).toContain("STRATUS_UPLOAD_URL");
  });

  it("a function slower than the 30 s integration timeout gets API Gateway's 503 (timeout shortened here)", async () => {
    const slow = await startApiGatewayEmulator({
      integrationTimeoutMs: 200,
      handler: () => new Promise((resolve) => setTimeout(() => resolve({ statusCode: 200, body: "" }), 2_000)),
    });
    try {
      const res = await fetch(`${slow.url}/v2/`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ message: "Service Unavailable" });
    } finally {
      await slow.close();
    }
  });

  it("every path reaches the function, as the stack's /{proxy+} route does: unknown ones get the registry's 404", async () => {
    const res = await fetch(`${deployment.url}/no/such/endpoint`);
    expect(res.status).toBe(404);
    expect((await res.json()).errors[0].code).toBe("UNSUPPORTED");
  });
});
