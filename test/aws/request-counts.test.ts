import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaType, OpenOnLoopbackAuthorizer, createRegistry } from "@stratus/core";
import type { Registry } from "@stratus/core";
import { openAwsStorage, DEFAULT_PART_SIZE } from "@stratus/storage-aws";
import type { AwsStorage } from "@stratus/storage-aws";
import { scratchStorage, type ScratchStorage } from "./support/backends.ts";
import { itemSize } from "./support/dynamo-units.ts";
import { countRequests, type RequestCounter } from "./support/request-counter.ts";
import { countS3Requests, type S3RequestCounter } from "./support/s3-request-counter.ts";
import { MEASUREMENTS_FILE, type OperationMeasure, type RegistryCall } from "./support/request-measures.ts";

// How many AWS requests each registry operation makes, measured against DynamoDB Local and radosgw
// through the registry exactly as the AWS deployment builds it (createRegistry over openAwsStorage,
// resumable hashing, 5 MiB minimum chunks), driven the way docker and skopeo drive a registry.
// The counts go to .tmp/aws-request-counts.json; `npm run cost` (scripts/cost.ts) prices them
// (docs/cost.md). The assertions are the regression bounds: a change that adds a request to a pull
// or a push fails here.

const KiB = 1024;
const MiB = 1024 * KiB;
const LAYERS = 10;
/** The workload's layer (docs/cost.md: a 10-layer image of 200 MiB): 20 MiB, over two full S3 parts. */
const LARGE_LAYER = 20 * MiB;

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const sumBytes = (blobs: Blob[]) => blobs.reduce((a, b) => a + b.bytes.byteLength, 0);
const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

function addInto(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  const out = { ...into };
  for (const [k, v] of Object.entries(from)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Several measured phases as one operation (phases run one after the other, so their counts add up). */
function combine(id: string, description: string, parts: OperationMeasure[]): OperationMeasure {
  const m = emptyMeasure(id, description);
  for (const p of parts) {
    m.registry.calls.push(...p.registry.calls);
    m.dynamodb.counts = addInto(m.dynamodb.counts, p.dynamodb.counts);
    m.dynamodb.readUnitsBy = addInto(m.dynamodb.readUnitsBy, p.dynamodb.readUnitsBy);
    m.dynamodb.writeUnitsBy = addInto(m.dynamodb.writeUnitsBy, p.dynamodb.writeUnitsBy);
    m.dynamodb.reportedCapacity = addInto(m.dynamodb.reportedCapacity, p.dynamodb.reportedCapacity);
    m.s3.counts = addInto(m.s3.counts, p.s3.counts);
    m.s3.presigned = addInto(m.s3.presigned, p.s3.presigned);
    m.s3.bytesUp += p.s3.bytesUp;
    m.client.s3Gets += p.client.s3Gets;
    m.client.bytesDown += p.client.bytesDown;
  }
  return totals(m);
}

function emptyMeasure(id: string, description: string): OperationMeasure {
  return {
    id,
    description,
    registry: { requests: 0, calls: [] },
    dynamodb: { requests: 0, counts: {}, readUnits: 0, writeUnits: 0, readUnitsBy: {}, writeUnitsBy: {}, reportedCapacity: {} },
    s3: { requests: 0, counts: {}, presigned: {}, bytesUp: 0 },
    client: { s3Gets: 0, bytesDown: 0 },
  };
}

function totals(m: OperationMeasure): OperationMeasure {
  m.registry.requests = m.registry.calls.length;
  m.dynamodb.requests = sum(m.dynamodb.counts);
  m.dynamodb.readUnits = sum(m.dynamodb.readUnitsBy);
  m.dynamodb.writeUnits = sum(m.dynamodb.writeUnitsBy);
  m.s3.requests = sum(m.s3.counts);
  return m;
}

interface Blob {
  bytes: Uint8Array;
  digest: string;
}
const blobOf = (bytes: Uint8Array): Blob => ({ bytes, digest: sha256(bytes) });

interface Image {
  layers: Blob[];
  config: Blob;
  manifest: Blob;
}

function imageOf(layers: Blob[]): Image {
  const config = blobOf(
    new TextEncoder().encode(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["/app"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
        history: layers.map((_, i) => ({ created: "2025-01-01T00:00:00Z", created_by: `RUN step ${i}` })),
      }),
    ),
  );
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
  return { layers, config, manifest };
}

/** Small random layers, 64 KiB to about 1 MiB: fast to push, each one S3 object (no multipart). */
const smallLayers = (seed: number) => Array.from({ length: LAYERS }, (_, i) => blobOf(randomBytes(64 * KiB + ((seed * 7 + i) % LAYERS) * 96 * KiB)));

describe("AWS requests per registry operation (DynamoDB Local, radosgw)", () => {
  const repository = "acme/app";
  const base = "http://registry.test";
  let scratch: ScratchStorage | undefined;
  let bucket: string;
  let table: string;
  let s3: S3Client;
  let dynamo: DynamoDBClient;
  let storage: AwsStorage;
  let registry: Registry;
  let dynamoCounter: RequestCounter;
  let s3Counter: S3RequestCounter;
  let calls: RegistryCall[] = [];
  let clientGets = { s3Gets: 0, bytesDown: 0 };
  const results = new Map<string, OperationMeasure>();
  const images: Record<string, Image> = {};

  beforeAll(async () => {
    // Tables and buckets are made through clients of their own: only the registry's requests are counted.
    scratch = await scratchStorage("stratus-cost");
    ({ bucket, table } = scratch);
    const backends = scratch.backends;
    ({ s3, dynamo } = scratch.clients());
    dynamoCounter = countRequests(dynamo);
    s3Counter = countS3Requests(s3);
    storage = openAwsStorage({ bucket, table, region: backends.region, presignSeconds: 900, uploadTtlSeconds: 24 * 3600, s3Client: s3, dynamoClient: dynamo });
    registry = createRegistry(
      { blobs: storage.blobs, metadata: storage.metadata, authorizer: new OpenOnLoopbackAuthorizer() },
      { resumableHashing: true, chunkMinLength: 5 * MiB },
    );
  });

  afterAll(async () => {
    dynamoCounter?.detach();
    s3Counter?.detach();
    storage?.close();
    s3?.destroy();
    dynamo?.destroy();
    await scratch?.remove();
  });

  async function send(method: string, path: string, route: string, init: { body?: Uint8Array; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = new URL(path, base);
    const response = await registry.handle(
      new Request(url, { method, ...(init.body ? { body: init.body as Uint8Array<ArrayBuffer> } : {}), headers: { ...(init.body ? { "content-length": String(init.body.byteLength) } : {}), ...init.headers } }),
      { remoteAddress: "127.0.0.1" },
    );
    calls.push({ method, route, status: response.status, bodyBytes: init.body?.byteLength ?? 0 });
    return response;
  }

  /** Runs `work` from zero on every counter and keeps what it cost under `id`. */
  async function measure(id: string, description: string, work: () => Promise<void>): Promise<OperationMeasure> {
    calls = [];
    clientGets = { s3Gets: 0, bytesDown: 0 };
    dynamoCounter.reset();
    s3Counter.reset();
    await work();
    const d = dynamoCounter.snapshot();
    const s = s3Counter.snapshot();
    const m = totals({
      id,
      description,
      registry: { requests: 0, calls },
      dynamodb: { requests: 0, counts: d.counts, readUnits: 0, writeUnits: 0, readUnitsBy: d.readUnits, writeUnitsBy: d.writeUnits, reportedCapacity: d.capacity },
      s3: { requests: 0, counts: s.counts, presigned: s.presigned, bytesUp: s.bytesUp },
      client: clientGets,
    });
    results.set(id, m);
    return m;
  }

  // docker (classic store) and skopeo: HEAD (404), POST, one PATCH with the whole blob, PUT ?digest=.
  async function pushBlob(blob: Blob): Promise<void> {
    const head = await send("HEAD", `/v2/${repository}/blobs/${blob.digest}`, "HEAD blob");
    expect(head.status).toBe(404);
    const start = await send("POST", `/v2/${repository}/blobs/uploads/`, "POST upload");
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get("location")!, base);
    const patch = await send("PATCH", location.pathname + location.search, "PATCH upload", { body: blob.bytes, headers: { "content-type": "application/octet-stream" } });
    expect(patch.status).toBe(202);
    const next = new URL(patch.headers.get("location")!, base);
    next.searchParams.set("digest", blob.digest);
    const put = await send("PUT", next.pathname + next.search, "PUT upload ?digest=");
    expect(put.status).toBe(201);
  }

  async function pushManifest(image: Image, tag: string, expectHead: number): Promise<void> {
    const head = await send("HEAD", `/v2/${repository}/manifests/${tag}`, "HEAD manifest");
    expect(head.status).toBe(expectHead);
    const put = await send("PUT", `/v2/${repository}/manifests/${tag}`, "PUT manifest", { body: image.manifest.bytes, headers: { "content-type": MediaType.ociManifest } });
    expect(put.status).toBe(201);
  }

  /** Pushes the layers, the config, then the manifest, measuring each step; returns the whole and the steps. */
  async function pushImage(id: string, description: string, image: Image, tag: string): Promise<{ whole: OperationMeasure; phases: OperationMeasure[] }> {
    const phases: OperationMeasure[] = [];
    for (const [i, blob] of [...image.layers, image.config].entries()) phases.push(await measure(`${id}#blob${i}`, "", () => pushBlob(blob)));
    phases.push(await measure(`${id}#manifest`, "", () => pushManifest(image, tag, 404)));
    for (const p of phases) results.delete(p.id);
    const whole = combine(id, description, phases);
    results.set(id, whole);
    return { whole, phases };
  }

  /** A blob GET: the registry answers 307 to a presigned URL, which the client then fetches from S3 (not a registry request). */
  async function pullBlob(blob: Blob, follow: boolean): Promise<void> {
    const response = await send("GET", `/v2/${repository}/blobs/${blob.digest}`, "GET blob");
    expect(response.status).toBe(307);
    clientGets.s3Gets++;
    clientGets.bytesDown += blob.bytes.byteLength;
    if (follow) {
      const bytes = new Uint8Array(await (await fetch(response.headers.get("location")!)).arrayBuffer());
      expect(sha256(bytes)).toBe(blob.digest);
    }
  }

  it("pushes a first layer into a new repository, then a 10-layer image into it", async () => {
    const firstLayer = await measure("push.layer.new-repository", "push of the first layer of a new repository (also writes the repository's marker, catalog entry and usage)", () =>
      pushBlob(blobOf(randomBytes(256 * KiB))),
    );
    images.first = imageOf(smallLayers(1));
    const tableBefore = await tableBytes();
    const { whole: image, phases } = await pushImage("push.image", `push of a ${LAYERS}-layer image (small layers, new content) to an existing repository`, images.first, "v1");
    const tableAfter = await tableBytes();
    image.storage = { dynamoItems: tableAfter.items - tableBefore.items, dynamoBytes: tableAfter.bytes - tableBefore.bytes };

    const blobPhases = phases.slice(0, LAYERS + 1);
    // Every blob of a push costs the same: one small-layer measure stands for all of them.
    for (const p of blobPhases) {
      expect(p.dynamodb.counts).toEqual(blobPhases[0]!.dynamodb.counts);
      expect(p.s3.counts).toEqual(blobPhases[0]!.s3.counts);
    }
    const layer = blobPhases[0]!;
    const manifest = phases.at(-1)!;
    results.set("push.layer.small", { ...layer, id: "push.layer.small", description: "push of one small layer (< 8 MiB: one S3 object, no multipart): HEAD 404, POST, PATCH, PUT ?digest=" });
    results.set("push.manifest", { ...manifest, id: "push.manifest", description: "HEAD manifest (404) and PUT manifest by tag (new digest)" });

    expect(layer.registry.requests).toBe(4);
    // HEAD: GetItem. POST: TransactWriteItems (session, counted in the usage item). PATCH: GetItem +
    // TransactWriteItems (size and staged bytes). PUT: GetItem (session), GetItem (tenant's blob),
    // BatchGetItem + TransactWriteItems (commit, removing the session): docs/dynamodb.md.
    expect(layer.dynamodb.counts).toEqual({ GetItem: 4, BatchGetItem: 1, TransactWriteItems: 3 });
    expect(layer.s3.requests).toBeLessThanOrEqual(6);
    expect(layer.s3.counts.CreateMultipartUpload ?? 0).toBe(0);
    expect(manifest.registry.requests).toBe(2);
    // HEAD: GetItem. PUT: getManifest(digest), findLinkedBlob per layer and config, BatchGetItem, TransactWriteItems.
    expect(manifest.dynamodb.counts).toEqual({ GetItem: 1 + 1 + LAYERS + 1, BatchGetItem: 1, TransactWriteItems: 1 });
    expect(manifest.s3.requests).toBe(0);
    expect(image.registry.requests).toBe(4 * (LAYERS + 1) + 2);
    expect(image.dynamodb.requests).toBe((LAYERS + 1) * 8 + LAYERS + 5);
    expect(image.s3.requests).toBeLessThanOrEqual(6 * (LAYERS + 1));
    // The first content of a repository costs more write units, not more requests.
    expect(firstLayer.dynamodb.counts).toEqual(layer.dynamodb.counts);
    expect(firstLayer.dynamodb.writeUnits).toBeGreaterThan(layer.dynamodb.writeUnits);
  });

  it(`pushes a large layer (${LARGE_LAYER / MiB} MiB: S3 multipart)`, async () => {
    const blob = blobOf(randomBytes(LARGE_LAYER));
    const parts = Math.ceil(LARGE_LAYER / DEFAULT_PART_SIZE);
    const m = await measure("push.layer.large", `push of one ${LARGE_LAYER / MiB} MiB layer (${parts} S3 parts of ${DEFAULT_PART_SIZE / MiB} MiB, the last smaller): HEAD 404, POST, PATCH, PUT ?digest=`, () => pushBlob(blob));
    m.layerBytes = LARGE_LAYER;
    m.parts = parts;
    expect(m.registry.requests).toBe(4);
    expect(m.dynamodb.requests).toBe(results.get("push.layer.small")!.dynamodb.requests);
    expect(m.s3.counts.CreateMultipartUpload).toBe(1);
    expect(m.s3.counts.CompleteMultipartUpload).toBe(1);
    // Full parts as UploadPart, the tail as UploadPartCopy at commit.
    expect((m.s3.counts.UploadPart ?? 0) + (m.s3.counts.UploadPartCopy ?? 0)).toBe(parts);
    // Besides the parts: the tail PutObject, the commit's index read and write, and the cleanup of
    // leftovers (list uploads and staged objects, abort, delete the tail copied as the last part).
    expect(m.s3.requests).toBeLessThanOrEqual(parts + 9);
  });

  it("pulls the image: GET manifest by tag, then GET of the config and every layer (307 to S3)", async () => {
    const image = images.first!;
    const m = await measure("pull.image", `pull of the ${LAYERS}-layer image: GET manifest by tag, GET config and each layer (307 to a presigned S3 URL)`, async () => {
      const manifest = await send("GET", `/v2/${repository}/manifests/v1`, "GET manifest", { headers: { accept: MediaType.ociManifest } });
      expect(manifest.status).toBe(200);
      expect(sha256(new Uint8Array(await manifest.arrayBuffer()))).toBe(image.manifest.digest);
      await pullBlob(image.config, true);
      for (const [i, layer] of image.layers.entries()) await pullBlob(layer, i === 0);
    });
    m.image = { manifestBytes: image.manifest.bytes.byteLength, configBytes: image.config.bytes.byteLength, layerBytes: sumBytes(image.layers) };
    expect(m.registry.requests).toBe(LAYERS + 2);
    // One GetItem per request, nothing from S3: the blob bytes go from S3 to the client.
    expect(m.dynamodb.counts).toEqual({ GetItem: LAYERS + 2 });
    expect(m.s3.requests).toBe(0);
    expect(m.s3.presigned).toEqual({ GetObject: LAYERS + 1 });
    expect(m.client.s3Gets).toBe(LAYERS + 1);
  });

  it("re-pushes the same image: HEAD of every blob (200), PUT manifest", async () => {
    const image = images.first!;
    const m = await measure("repush.image", "re-push of the same image: HEAD each blob (200), PUT manifest by tag (digest already stored)", async () => {
      for (const blob of [...image.layers, image.config]) expect((await send("HEAD", `/v2/${repository}/blobs/${blob.digest}`, "HEAD blob")).status).toBe(200);
      const put = await send("PUT", `/v2/${repository}/manifests/v1`, "PUT manifest", { body: image.manifest.bytes, headers: { "content-type": MediaType.ociManifest } });
      expect(put.status).toBe(201);
    });
    expect(m.registry.requests).toBe(LAYERS + 2);
    // HEADs: one GetItem each; PUT: getManifest(digest), findLinkedBlob per blob, BatchGetItem, TransactWriteItems.
    expect(m.dynamodb.counts).toEqual({ GetItem: 2 * (LAYERS + 1) + 1, BatchGetItem: 1, TransactWriteItems: 1 });
    expect(m.s3.requests).toBe(0);
  });

  it("answers single reads with one DynamoDB request and no S3 request", async () => {
    const image = images.first!;
    const ping = await measure("ping", "GET /v2/ (every docker session starts with it)", async () => {
      expect((await send("GET", "/v2/", "GET /v2/")).status).toBe(200);
    });
    const tags = await measure("tags.list", "GET /tags/list (1 tag)", async () => {
      const response = await send("GET", `/v2/${repository}/tags/list`, "GET tags/list");
      expect(await response.json()).toEqual({ name: repository, tags: ["v1"] });
    });
    const manifestGet = await measure("manifest.get", "GET manifest by tag", async () => {
      expect((await send("GET", `/v2/${repository}/manifests/v1`, "GET manifest", { headers: { accept: MediaType.ociManifest } })).status).toBe(200);
    });
    const manifestHead = await measure("manifest.head", "HEAD manifest by tag", async () => {
      expect((await send("HEAD", `/v2/${repository}/manifests/v1`, "HEAD manifest")).status).toBe(200);
    });
    const blobHead = await measure("blob.head", "HEAD blob (200)", async () => {
      expect((await send("HEAD", `/v2/${repository}/blobs/${image.layers[0]!.digest}`, "HEAD blob")).status).toBe(200);
    });
    const blobGet = await measure("blob.get", "GET blob (307 to a presigned S3 URL)", () => pullBlob(image.layers[0]!, false));
    expect(ping.dynamodb.requests + ping.s3.requests).toBe(0);
    expect(tags.dynamodb.counts).toEqual({ Query: 1 });
    for (const m of [manifestGet, manifestHead, blobHead, blobGet]) {
      expect(m.dynamodb.counts).toEqual({ GetItem: 1 });
      expect(m.dynamodb.readUnits).toBe(1);
    }
    for (const m of [tags, manifestGet, manifestHead, blobHead, blobGet]) expect(m.s3.requests).toBe(0);
    expect(blobGet.s3.presigned).toEqual({ GetObject: 1 });
  });

  it("writes the measurements to .tmp/aws-request-counts.json", async () => {
    const expected = ["push.layer.new-repository", "push.image", "push.layer.small", "push.layer.large", "push.manifest", "pull.image", "repush.image", "ping", "tags.list", "manifest.get", "manifest.head", "blob.head", "blob.get"];
    expect([...results.keys()].sort()).toEqual([...expected].sort());
    // The units computed from item sizes agree with what DynamoDB Local reports for single-item calls
    // (it undercounts transactions and batches, which is why they are computed).
    for (const m of results.values()) {
      for (const operation of ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"]) {
        const computed = (m.dynamodb.readUnitsBy[operation] ?? 0) + (m.dynamodb.writeUnitsBy[operation] ?? 0);
        expect(computed, `${m.id} ${operation}`).toBe(m.dynamodb.reportedCapacity[operation] ?? 0);
      }
    }
    mkdirSync(dirname(MEASUREMENTS_FILE), { recursive: true });
    writeFileSync(
      MEASUREMENTS_FILE,
      JSON.stringify(
        {
          measuredAt: new Date().toISOString(),
          backends: "DynamoDB Local + Ceph radosgw (test/aws/global-setup.ts)",
          registryConfig: registry.config,
          layers: LAYERS,
          s3PartSize: DEFAULT_PART_SIZE,
          operations: Object.fromEntries(expected.map((id) => [id, results.get(id)])),
        },
        null,
        2,
      ) + "\n",
    );
  });

  async function tableBytes(): Promise<{ items: number; bytes: number }> {
    let items = 0;
    let bytes = 0;
    let start: Record<string, any> | undefined;
    do {
      const out = await scratch!.admin.dynamo.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
      for (const item of out.Items ?? []) {
        items++;
        // DynamoDB bills storage per item size plus 100 bytes of overhead per item.
        bytes += itemSize(item) + 100;
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return { items, bytes };
  }
});
