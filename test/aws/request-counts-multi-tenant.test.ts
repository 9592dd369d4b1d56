import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, MediaType, TokenKeySet, type Registry } from "@stratus/core";
import { DEFAULT_PART_SIZE, openAwsStorage, S3_MIN_PART_SIZE, type AwsStorage } from "@stratus/storage-aws";
import { GENERATION_TTL_MS } from "../../packages/core/src/auth/tenant-generations.ts";
import { scratchStorage, type ScratchStorage } from "./support/backends.ts";
import { countRequests, type RequestCounter } from "./support/request-counter.ts";
import { countS3Requests, type S3RequestCounter } from "./support/s3-request-counter.ts";
import { MULTI_TENANT_MEASUREMENTS_FILE, type OperationMeasure, type RegistryCall } from "./support/request-measures.ts";

// The requests of whole client sessions in multi-tenant mode, as every deployment runs (token auth):
// the unauthenticated GET /v2/ answered 401 with the challenge, the /token round trip (Basic
// credentials, as skopeo, podman and buildah send them; docker's refresh-token POST is one request
// too), then the work with the bearer token. Each session starts more than GENERATION_TTL_MS after
// the previous one, so it pays the read of the tenant's generation (docs/auth.md): the cost of a
// tenant that is not busy. Written to .tmp/aws-request-counts-multi-tenant.json; scripts/cost.ts
// prices the workload with these (docs/cost.md).

const KiB = 1024;
const MiB = 1024 * KiB;
const LAYERS = 10;
/** As request-counts.test.ts: the workload's 20 MiB layer. */
const LARGE_LAYER = 20 * MiB;
const base = "http://registry.test";
const operator = `operator-${randomBytes(24).toString("base64url")}`;
const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

interface Blob {
  bytes: Uint8Array;
  digest: string;
}
const blobOf = (bytes: Uint8Array): Blob => ({ bytes, digest: sha256(bytes) });

describe("AWS requests of client sessions in multi-tenant mode (DynamoDB Local, radosgw)", () => {
  let scratch: ScratchStorage | undefined;
  let bucket: string;
  let table: string;
  let storage: AwsStorage;
  let registry: Registry;
  let dynamoCounter: RequestCounter;
  let s3Counter: S3RequestCounter;
  let now = Date.now();
  let calls: RegistryCall[] = [];
  let clientGets = { s3Gets: 0, bytesDown: 0 };
  let basic: Record<string, string>;
  const results = new Map<string, OperationMeasure>();
  const layers = Array.from({ length: LAYERS }, (_, i) => blobOf(randomBytes(64 * KiB + i * 96 * KiB)));
  const config = blobOf(new TextEncoder().encode(JSON.stringify({ architecture: "arm64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) } })));
  const manifest = blobOf(
    new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.bytes.byteLength },
        layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.bytes.byteLength })),
      }),
    ),
  );

  beforeAll(async () => {
    scratch = await scratchStorage("stratus-cost-mt");
    ({ bucket, table } = scratch);
    const b = scratch.backends;
    const { s3, dynamo } = scratch.clients();
    dynamoCounter = countRequests(dynamo);
    s3Counter = countS3Requests(s3);
    storage = openAwsStorage({ bucket, table, region: b.region, presignSeconds: 900, uploadTtlSeconds: 24 * 3600, s3Client: s3, dynamoClient: dynamo });
    // As packages/lambda builds it: multi-tenant, resumable hashing.
    registry = createRegistry(
      {
        blobs: storage.blobs,
        metadata: storage.metadata,
        multiTenant: { tenants: storage.tenants, tokenKeys: await TokenKeySet.fromSecrets(`signing-${randomBytes(32).toString("base64url")}`), operatorToken: operator },
        clock: { now: () => now },
      },
      { tenancy: "namespace", resumableHashing: true, chunkMinLength: S3_MIN_PART_SIZE },
    );
    const json = { authorization: `Bearer ${operator}`, "content-type": "application/json" };
    const body = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    expect((await send("POST", "/admin/v1/tenants", "", { headers: json, body: body({ id: "acme" }) })).status).toBe(201);
    const key = ((await (await send("POST", "/admin/v1/tenants/acme/keys", "", { headers: json, body: body({ role: "push" }) })).json()) as { key: string }).key;
    basic = { authorization: `Basic ${Buffer.from(`acme:${key}`).toString("base64")}` };
  });

  afterAll(async () => {
    dynamoCounter?.detach();
    s3Counter?.detach();
    storage?.close();
    await scratch?.remove();
  });

  async function send(method: string, path: string, route: string, init: { body?: Uint8Array; headers?: Record<string, string> } = {}): Promise<Response> {
    const response = await registry.handle(
      new Request(new URL(path, base), {
        method,
        ...(init.body ? { body: init.body as Uint8Array<ArrayBuffer> } : {}),
        headers: { ...(init.body ? { "content-length": String(init.body.byteLength) } : {}), ...init.headers },
      }),
      { remoteAddress: "127.0.0.1" },
    );
    if (route) calls.push({ method, route, status: response.status, bodyBytes: init.body?.byteLength ?? 0 });
    return response;
  }

  async function measure(id: string, description: string, work: () => Promise<void>): Promise<OperationMeasure> {
    calls = [];
    clientGets = { s3Gets: 0, bytesDown: 0 };
    dynamoCounter.reset();
    s3Counter.reset();
    await work();
    const d = dynamoCounter.snapshot();
    const s = s3Counter.snapshot();
    const m: OperationMeasure = {
      id,
      description,
      // A copy: requests sent between measures (the other layers) are no part of this one.
      registry: { requests: calls.length, calls: [...calls] },
      dynamodb: { requests: sum(d.counts), counts: d.counts, readUnits: sum(d.readUnits), writeUnits: sum(d.writeUnits), readUnitsBy: d.readUnits, writeUnitsBy: d.writeUnits, reportedCapacity: d.capacity },
      s3: { requests: sum(s.counts), counts: s.counts, presigned: s.presigned, bytesUp: s.bytesUp },
      client: clientGets,
    };
    results.set(id, m);
    return m;
  }

  /** A client session's start: GET /v2/ answered 401 with the challenge, then /token for the scope. */
  async function login(scope: string, credentials: Record<string, string> | undefined): Promise<Record<string, string>> {
    now += GENERATION_TTL_MS + 1;
    const ping = await send("GET", "/v2/", "GET /v2/ (401)");
    expect(ping.status).toBe(401);
    const challenge = ping.headers.get("www-authenticate") ?? "";
    const service = /service="([^"]*)"/.exec(challenge)?.[1] ?? "";
    const issued = await send("GET", `/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(`repository:${scope}`)}`, "GET /token", credentials ? { headers: credentials } : {});
    expect(issued.status).toBe(200);
    return { authorization: `Bearer ${((await issued.json()) as { token: string }).token}` };
  }

  async function pushBlob(blob: Blob, bearer: Record<string, string>): Promise<void> {
    expect((await send("HEAD", `/v2/acme/app/blobs/${blob.digest}`, "HEAD blob", { headers: bearer })).status).toBe(404);
    const start = await send("POST", "/v2/acme/app/blobs/uploads/", "POST upload", { headers: bearer });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get("location")!, base);
    const patch = await send("PATCH", location.pathname + location.search, "PATCH upload", { body: blob.bytes, headers: { ...bearer, "content-type": "application/octet-stream" } });
    expect(patch.status).toBe(202);
    const next = new URL(patch.headers.get("location")!, base);
    next.searchParams.set("digest", blob.digest);
    expect((await send("PUT", next.pathname + next.search, "PUT upload ?digest=", { headers: bearer })).status).toBe(201);
  }

  async function pull(repository: string, bearer: Record<string, string>): Promise<void> {
    const got = await send("GET", `/v2/${repository}/manifests/v1`, "GET manifest", { headers: { ...bearer, accept: MediaType.ociManifest } });
    expect(got.status).toBe(200);
    for (const blob of [config, ...layers]) {
      const response = await send("GET", `/v2/${repository}/blobs/${blob.digest}`, "GET blob", { headers: bearer });
      expect(response.status).toBe(307);
      clientGets.s3Gets++;
      clientGets.bytesDown += blob.bytes.byteLength;
    }
  }

  it("push session: challenge, token, every blob, the manifest; a large layer apart", async () => {
    let bearer: Record<string, string> = {};
    const start = await measure("mt.push.session", "push session start: GET /v2/ (401 challenge), GET /token (Basic, scope pull,push)", async () => {
      bearer = await login("acme/app:pull,push", basic);
    });
    expect(start.registry.requests).toBe(2);
    const small = await measure("mt.push.layer.small", "push of one small blob with a bearer token: HEAD 404, POST, PATCH, PUT ?digest=", () => pushBlob(config, bearer));
    for (const layer of layers) await pushBlob(layer, bearer);
    const large = await measure("mt.push.layer.large", `push of one ${LARGE_LAYER / MiB} MiB layer with a bearer token`, () => pushBlob(blobOf(randomBytes(LARGE_LAYER)), bearer));
    large.layerBytes = LARGE_LAYER;
    large.parts = Math.ceil(LARGE_LAYER / DEFAULT_PART_SIZE);
    const put = await measure("mt.push.manifest", "HEAD manifest (404), PUT manifest by tag, with a bearer token", async () => {
      expect((await send("HEAD", "/v2/acme/app/manifests/v1", "HEAD manifest", { headers: bearer })).status).toBe(404);
      expect((await send("PUT", "/v2/acme/app/manifests/v1", "PUT manifest", { body: manifest.bytes, headers: { ...bearer, "content-type": MediaType.ociManifest } })).status).toBe(201);
    });
    // The writes are the open registry's; the reads are not (docs/cost.md "Multi-tenant sessions").
    expect(small.registry.requests).toBe(4);
    expect(small.dynamodb.counts).toMatchObject({ BatchGetItem: 1, TransactWriteItems: 3 });
    expect(large.dynamodb.requests).toBe(small.dynamodb.requests);
    expect(put.registry.requests).toBe(2);
  });

  it("pull session of a private repository: challenge, token, manifest, config and layers", async () => {
    const m = await measure("mt.pull.session", `pull session (private repository, ${LAYERS} layers): GET /v2/ (401), GET /token (Basic), GET manifest, GET config and each layer (307)`, async () => {
      await pull("acme/app", await login("acme/app:pull", basic));
    });
    m.image = { manifestBytes: manifest.bytes.byteLength, configBytes: config.bytes.byteLength, layerBytes: layers.reduce((a, l) => a + l.bytes.byteLength, 0) };
    expect(m.registry.requests).toBe(2 + 1 + LAYERS + 1);
    expect(m.s3.requests).toBe(0);
  });

  it("anonymous pull session of a public repository", async () => {
    const json = { authorization: `Bearer ${operator}`, "content-type": "application/json" };
    expect((await send("PUT", "/admin/v1/repositories/acme/app/visibility", "", { headers: json, body: new TextEncoder().encode(JSON.stringify({ visibility: "public" })) })).status).toBe(200);
    const m = await measure("mt.pull.anonymous", "anonymous pull session of a public repository: GET /v2/ (401), GET /token (no credentials), GET manifest, config and layers", async () => {
      await pull("acme/app", await login("acme/app:pull", undefined));
    });
    expect(m.registry.requests).toBe(2 + 1 + LAYERS + 1);
  });

  it("tag list session, and writes the measurements", async () => {
    const m = await measure("mt.tags.session", "tag list session: GET /v2/ (401), GET /token (Basic), GET tags/list", async () => {
      const bearer = await login("acme/app:pull", basic);
      expect((await send("GET", "/v2/acme/app/tags/list", "GET tags/list", { headers: bearer })).status).toBe(200);
    });
    expect(m.registry.requests).toBe(3);
    mkdirSync(dirname(MULTI_TENANT_MEASUREMENTS_FILE), { recursive: true });
    writeFileSync(
      MULTI_TENANT_MEASUREMENTS_FILE,
      JSON.stringify({ measuredAt: new Date().toISOString(), backends: "DynamoDB Local + Ceph radosgw (test/aws/global-setup.ts)", layers: LAYERS, operations: Object.fromEntries(results) }, null, 2) + "\n",
    );
  });
});
