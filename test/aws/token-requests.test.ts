import { createHash, randomBytes } from "node:crypto";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, TokenKeySet, type Registry } from "@stratus/core";
import { createS3Client, openAwsStorage, S3_MIN_PART_SIZE, type AwsStorage } from "@stratus/storage-aws";
import { GENERATION_TTL_MS } from "../../packages/core/src/auth/tenant-generations.ts";
import { createTable } from "../../packages/storage-aws/src/dynamo-table.ts";
import { awsBackends, uniqueName } from "./support/backends.ts";
import { countRequests, type RequestCounter } from "./support/request-counter.ts";

// What token auth costs on DynamoDB per registry request (docs/cost.md "With token auth"): the
// signature needs no read, and the tenant's generation (issue 10, item 10: tokens die with their
// tenant) is read at most once per GENERATION_TTL_MS per instance. So a pull by token stays one read
// per request, plus one read of the tenant record every few seconds while the tenant is busy.

const base = "http://registry.test";
const operator = `operator-${randomBytes(24).toString("base64url")}`;
let now = Date.now();
let storage: AwsStorage;
let registry: Registry;
let counter: RequestCounter;

beforeAll(async () => {
  const b = awsBackends();
  const credentials = { accessKeyId: b.accessKeyId, secretAccessKey: b.secretAccessKey };
  const s3 = createS3Client({ region: b.region, endpoint: b.s3Endpoint, credentials });
  const dynamo = new DynamoDBClient({ region: b.region, endpoint: b.dynamoEndpoint, credentials });
  const bucket = uniqueName("stratus-token-requests");
  const table = uniqueName("stratus-token-requests");
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await createTable(dynamo, table);
  storage = openAwsStorage({ bucket, table, region: b.region, presignSeconds: 900, uploadTtlSeconds: 3600, s3Client: s3, dynamoClient: dynamo });
  counter = countRequests(dynamo);
  registry = createRegistry(
    {
      blobs: storage.blobs,
      metadata: storage.metadata,
      multiTenant: { tenants: storage.tenants, tokenKeys: await TokenKeySet.fromSecrets(`signing-${randomBytes(32).toString("base64url")}`), operatorToken: operator },
      clock: { now: () => now },
    },
    { tenancy: "namespace", resumableHashing: true, chunkMinLength: S3_MIN_PART_SIZE },
  );
});
afterAll(() => {
  counter?.detach();
  storage?.close();
});

async function send(method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array): Promise<Response> {
  return registry.handle(new Request(new URL(path, base), { method, headers, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}) }), { remoteAddress: "127.0.0.1" });
}

describe("token auth on DynamoDB", () => {
  it("a pull by token is one read per request; the tenant's generation is read at most once per GENERATION_TTL_MS", async () => {
    const admin = { authorization: `Bearer ${operator}`, "content-type": "application/json" };
    expect((await send("POST", "/admin/v1/tenants", admin, new TextEncoder().encode(JSON.stringify({ id: "acme" })))).status).toBe(201);
    const created = await send("POST", "/admin/v1/tenants/acme/keys", admin, new TextEncoder().encode(JSON.stringify({ role: "push" })));
    const basic = { authorization: `Basic ${Buffer.from(`acme:${((await created.json()) as { key: string }).key}`).toString("base64")}` };
    const blob = new Uint8Array(randomBytes(64));
    const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    expect((await send("POST", `/v2/acme/app/blobs/uploads/?digest=${digest}`, basic, blob)).status).toBe(201);
    const issued = await send("GET", "/token?service=stratus&scope=repository:acme/app:pull", basic);
    const bearer = { authorization: `Bearer ${((await issued.json()) as { token: string }).token}` };

    // /token read the generation moments ago: ten blob HEADs read the blob link each, nothing more.
    const heads = async (n: number) => {
      for (let i = 0; i < n; i++) expect((await send("HEAD", `/v2/acme/app/blobs/${digest}`, bearer)).status).toBe(200);
    };
    const warm = await counter.measure(() => heads(10));
    expect(warm.counts).toEqual({ GetItem: 10 });
    // Once the copy is older than the TTL, the next request reads the tenant record again (one GetItem), then no more.
    now += GENERATION_TTL_MS;
    const stale = await counter.measure(() => heads(10));
    expect(stale.counts).toEqual({ GetItem: 11 });
    expect(stale.readUnits.GetItem).toBe(11);
  });
});
