import { createHash, randomBytes } from "node:crypto";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, OpenOnLoopbackAuthorizer, type Registry, type TenantId } from "@stratus/core";
import { createS3Client, openAwsStorage, S3_MIN_PART_SIZE, type AwsStorage } from "@stratus/storage-aws";
import { createTable } from "../../packages/storage-aws/src/dynamo-table.ts";
import { awsBackends, uniqueName } from "./support/backends.ts";

// What a client sees when AWS fails under the registry: a retryable 503 with Retry-After, and
// nothing half-committed afterwards — then the same request, retried, succeeds. Faults are injected
// in the SDK clients' middleware (after the SDK's own retries gave up); everything else reaches
// DynamoDB Local and radosgw.

let failing: string | undefined;
/** With `failing`: only calls whose input this accepts fail (one transaction among the request's several). */
let failingWhen: ((input: unknown) => boolean) | undefined;
let storage: AwsStorage;
let registry: Registry;

function injectFaults(client: { middlewareStack: { add: Function } }): void {
  client.middlewareStack.add(
    (next: (args: { input?: unknown }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input?: unknown }) => {
      if (failing && context.commandName === failing && (!failingWhen || failingWhen(args.input))) {
        throw Object.assign(new Error(`injected failure of ${failing}`), { name: "InternalServerError", $fault: "server", $metadata: { httpStatusCode: 500 } });
      }
      return next(args);
    },
    { step: "initialize", name: "stratusFaultInjection" },
  );
}

beforeAll(async () => {
  const b = awsBackends();
  const credentials = { accessKeyId: b.accessKeyId, secretAccessKey: b.secretAccessKey };
  const s3 = createS3Client({ region: b.region, endpoint: b.s3Endpoint, credentials });
  const dynamo = new DynamoDBClient({ region: b.region, endpoint: b.dynamoEndpoint, credentials });
  injectFaults(s3);
  injectFaults(dynamo);
  const bucket = uniqueName("stratus-faults");
  const table = uniqueName("stratus-faults");
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await createTable(dynamo, table);
  storage = openAwsStorage({ bucket, table, region: b.region, presignSeconds: 900, uploadTtlSeconds: 3600, s3Client: s3, dynamoClient: dynamo });
  registry = createRegistry(
    { blobs: storage.blobs, metadata: storage.metadata, authorizer: new OpenOnLoopbackAuthorizer() },
    { resumableHashing: true, chunkMinLength: S3_MIN_PART_SIZE },
  );
});
afterAll(() => {
  failing = undefined;
});

const call = (method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}) =>
  registry.handle(new Request(`http://registry.local${path}`, { method, headers, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}) }), {
    remoteAddress: "127.0.0.1",
  });
const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function expectRetryable(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get("retry-after")).toBe("1");
  const body = (await res.json()) as { errors: { code: string; message: string }[] };
  expect(body.errors[0]!.code).toBe("UNAVAILABLE");
  expect(body.errors[0]!.message).not.toMatch(/injected|InternalServerError|Dynamo|S3/);
}

describe("AWS failures seen through the registry", () => {
  it("a failed blob-commit transaction: 503, no blob, no usage; the retry commits", async () => {
    const data = randomBytes(100_000);
    const before = await storage.metadata.tenantUsage("default" as TenantId);
    // The commit's transaction (it writes the tenant's blob item), not the session's own.
    failing = "TransactWriteItemsCommand";
    failingWhen = (input) => JSON.stringify(input).includes(`"B#${sha(data)}"`);
    await expectRetryable(await call("POST", `/v2/faults/app/blobs/uploads/?digest=${sha(data)}`, data));
    failing = undefined;
    failingWhen = undefined;
    // The one-request upload's session went with it.
    expect(await storage.metadata.uploadUsage("default" as TenantId)).toMatchObject({ sessions: 0, stagedBytes: 0 });
    expect((await call("HEAD", `/v2/faults/app/blobs/${sha(data)}`)).status).toBe(404);
    expect(await storage.metadata.tenantUsage("default" as TenantId)).toEqual(before);
    expect((await call("POST", `/v2/faults/app/blobs/uploads/?digest=${sha(data)}`, data)).status).toBe(201);
    expect((await call("HEAD", `/v2/faults/app/blobs/${sha(data)}`)).headers.get("content-length")).toBe("100000");
  });

  it("a failed manifest transaction: 503, no manifest, no tag, no counter", async () => {
    const config = new TextEncoder().encode("{}");
    await call("POST", `/v2/faults/web/blobs/uploads/?digest=${sha(config)}`, config);
    const manifest = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
        layers: [],
      }),
    );
    const put = () => call("PUT", "/v2/faults/web/manifests/v1", manifest, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
    failing = "TransactWriteItemsCommand";
    await expectRetryable(await put());
    failing = undefined;
    expect((await call("GET", "/v2/faults/web/manifests/v1")).status).toBe(404);
    expect((await call("GET", `/v2/faults/web/manifests/${sha(manifest)}`)).status).toBe(404);
    expect(await storage.metadata.manifestCount("faults/web" as never)).toBe(0);
    expect((await put()).status).toBe(201);
    expect(await storage.metadata.manifestCount("faults/web" as never)).toBe(1);
  });

  it("S3 failing mid-multipart: 503, the session keeps its last good offset and resumes", async () => {
    const data = randomBytes(S3_MIN_PART_SIZE * 2 + 12345);
    const start = await call("POST", "/v2/faults/big/blobs/uploads/");
    const location = start.headers.get("location")!;
    const first = data.subarray(0, S3_MIN_PART_SIZE + 100);
    const ok = await call("PATCH", location, first, { "content-range": `0-${first.length - 1}`, "content-length": String(first.length) });
    expect(ok.status).toBe(202);
    const second = data.subarray(first.length);
    const range = { "content-range": `${first.length}-${data.length - 1}`, "content-length": String(second.length) };
    failing = "UploadPartCommand";
    await expectRetryable(await call("PATCH", location, second, range));
    failing = undefined;
    const status = await call("GET", location);
    expect(status.headers.get("range")).toBe(`0-${first.length - 1}`);
    expect((await call("PATCH", location, second, range)).status).toBe(202);
    const done = await call("PUT", `${location}?digest=${sha(data)}`);
    expect(done.status).toBe(201);
  });
});
