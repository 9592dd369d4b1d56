import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRegistry, OpenOnLoopbackAuthorizer, type Registry, type TenantId, type TenantLimits } from "@stratus/core";
import { parseServerOptions, serverOptionsSchema, startServer, type RunningServer } from "@stratus/server";
import { openLocalStorage, type LocalStorage } from "@stratus/storage-local";
import { digestOf, expectOciError, type Bytes } from "./http-api/client.ts";

// Upload bounds through the HTTP API (issue 10, item 4): staged bytes count against the tenant's
// stored bytes, open sessions are limited per plan, and expired sessions are swept completely. Each
// refusal is 403 DENIED naming the limit, and leaves nothing behind: no staged file, no session, no
// counter. The registry runs in-process on local storage; the stores' contract suites race the limits.

const UNLIMITED = Number.MAX_SAFE_INTEGER;
const acme = "acme" as TenantId;
const MiB = 1024 * 1024;
const TTL_SECONDS = 3_600;

let dataDir: string;
let storage: LocalStorage;
let registry: Registry;
let limits: TenantLimits;
let now: number;
const limit = (set: Partial<TenantLimits>) => {
  limits = { repositories: UNLIMITED, storedBytes: UNLIMITED, manifestsPerRepository: UNLIMITED, uploadSessions: UNLIMITED, ...set };
};

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "stratus-upload-bounds-"));
  storage = await openLocalStorage(dataDir);
  limit({});
  now = Date.UTC(2026, 0, 1);
  registry = createRegistry(
    {
      blobs: storage.blobs,
      metadata: storage.metadata,
      authorizer: new OpenOnLoopbackAuthorizer(),
      limitsOf: async (tenant) => (tenant === acme ? limits : undefined),
      clock: { now: () => now },
    },
    { tenancy: "namespace", uploadTtlSeconds: TTL_SECONDS },
  );
});

afterEach(async () => {
  storage.close();
  await rm(dataDir, { recursive: true, force: true });
});

function call(method: string, path: string, body?: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit & { duplex?: "half" } = { method, headers, ...(body ? { body, duplex: "half" } : {}) };
  return registry.handle(new Request(`http://registry.test${path}`, init), { remoteAddress: "127.0.0.1" });
}

const start = async (name = "acme/web") => {
  const r = await call("POST", `/v2/${name}/blobs/uploads/`);
  expect(r.status, await r.clone().text()).toBe(202);
  return r.headers.get("location")!;
};

/** A body of `size` bytes made as it is read, 64 KiB at a time; `pulled` says how much the registry took. */
function lazyBody(size: number) {
  const counter = { pulled: 0 };
  const chunk = new Uint8Array(64 * 1024);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counter.pulled >= size) return controller.close();
      const n = Math.min(chunk.length, size - counter.pulled);
      counter.pulled += n;
      controller.enqueue(chunk.slice(0, n));
    },
  }, { highWaterMark: 0 });
  return { stream, counter };
}

/** Staged upload files and committed blob files under the data directory. */
async function files(): Promise<string[]> {
  const found: string[] = [];
  for (const top of ["blobs", "uploads"]) {
    const entries = await readdir(join(dataDir, top), { recursive: true, withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isFile()) found.push(join(entry.parentPath, entry.name).slice(dataDir.length + 1));
  }
  return found.sort();
}

const staged = async () => (await files()).filter((f) => f.startsWith("uploads/"));

describe("staged bytes count against the plan's stored bytes", () => {
  it("stops ten 50 MiB PATCHes on a 1 MB plan at the room left, keeping nothing of them", async () => {
    limit({ storedBytes: 1_000_000 });
    for (let i = 0; i < 10; i++) {
      const session = await start();
      const { stream, counter } = lazyBody(50 * MiB);
      const error = await expectOciError(await call("PATCH", session, stream), 403, "DENIED");
      expect(error.message).toBe(
        "this request's body, longer than the 1 MB left, would take tenant acme past its 1 MB (0 bytes stored); the upload was discarded: " +
          "delete images or move to a larger plan",
      );
      expect(error.detail).toMatchObject({ limit: "storedBytes", max: 1_000_000, usage: 0 });
      // Read only until it passed the room: a chunk beyond 1 MB, never the 50 MiB.
      expect(counter.pulled).toBeLessThanOrEqual(1_000_000 + 2 * 64 * 1024);
      await expectOciError(await call("GET", session), 404, "BLOB_UPLOAD_UNKNOWN");
    }
    expect(await files()).toEqual([]);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 0 });
  });

  it("refuses a body announced larger than the room before reading it, whether PATCH, PUT or a one-request upload", async () => {
    limit({ storedBytes: 1_000_000 });
    const bytes = new Uint8Array(randomBytes(1_500_000)) as Bytes;
    const expected = "1.5 MB more would take tenant acme to 1.5 MB of its 1 MB (0 bytes stored); the upload was discarded: delete images or move to a larger plan";
    for (const send of [
      async () => call("PATCH", await start(), bytes, { "content-length": String(bytes.length) }),
      async () => call("PUT", `${await start()}?digest=${digestOf(bytes)}`, bytes, { "content-length": String(bytes.length) }),
      async () => call("POST", `/v2/acme/web/blobs/uploads/?digest=${digestOf(bytes)}`, bytes, { "content-length": String(bytes.length) }),
    ]) {
      const error = await expectOciError(await send(), 403, "DENIED");
      expect(error.message).toBe(expected);
      expect(error.detail).toMatchObject({ limit: "storedBytes", max: 1_000_000, usage: 0, size: 1_500_000 });
    }
    // Not a byte of it was read.
    const { stream, counter } = lazyBody(bytes.length);
    await expectOciError(await call("PATCH", await start(), stream, { "content-length": String(bytes.length) }), 403, "DENIED");
    expect(counter.pulled).toBe(0);
    expect(await files()).toEqual([]);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 0 });
    // Exactly the room is taken, as one blob.
    const fits = bytes.subarray(0, 1_000_000);
    expect((await call("POST", `/v2/acme/web/blobs/uploads/?digest=${digestOf(fits)}`, fits)).status).toBe(201);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 1_000_000 });
  });

  it("counts other unfinished uploads, discards a chunked upload that passes, and commits a blob exactly filling the plan", async () => {
    limit({ storedBytes: 1_000 });
    const a = await start();
    expect((await call("PATCH", a, new Uint8Array(600) as Bytes)).status).toBe(202);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 600, storedBytes: 0 });

    // Another upload: its chunks fit beside the 600 staged, until one does not; then it is gone whole.
    const b = await start();
    expect((await call("PATCH", b, new Uint8Array(200) as Bytes, { "content-range": "0-199" })).status).toBe(202);
    const error = await expectOciError(await call("PATCH", b, new Uint8Array(201) as Bytes, { "content-range": "200-400", "content-length": "201" }), 403, "DENIED");
    expect(error.message).toBe(
      "201 bytes more would take tenant acme to 1.1 kB of its 1 kB (0 bytes stored, 800 bytes staged by unfinished uploads, which count too); " +
        "the upload was discarded: delete images, finish or cancel other uploads, or move to a larger plan",
    );
    expect(error.detail).toMatchObject({ limit: "storedBytes", max: 1_000, usage: 0, stagedBytes: 800, size: 201 });
    await expectOciError(await call("GET", b), 404, "BLOB_UPLOAD_UNKNOWN");
    expect(await staged()).toHaveLength(1);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 600, storedBytes: 0 });

    // The first upload finishes: its staged bytes become stored bytes, counted once.
    const first = new Uint8Array(600) as Bytes;
    expect((await call("PUT", `${a}?digest=${digestOf(first)}`)).status).toBe(201);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 600 });
    // A blob of exactly the 400 left commits through a session, chunk by chunk.
    const last = new Uint8Array(randomBytes(400)) as Bytes;
    const c = await start();
    expect((await call("PATCH", c, last.subarray(0, 250), { "content-range": "0-249" })).status).toBe(202);
    const put = await call("PUT", `${c}?digest=${digestOf(last)}`, last.subarray(250), { "content-range": "250-399", "content-length": "150" });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 1_000 });
    expect(await staged()).toEqual([]);
  });
});

describe("open upload sessions are limited per plan", () => {
  it("refuses the next POST with 403 DENIED naming the limit, and takes one once a session ends", async () => {
    limit({ uploadSessions: 3 });
    const sessions = [await start(), await start(), await start()];
    const expected =
      "tenant acme has 3 of its 3 upload sessions open, so no other upload can start: finish or cancel uploads in progress " +
      "(idle ones expire after 1 h) or move to a larger plan";
    const refused = await expectOciError(await call("POST", "/v2/acme/web/blobs/uploads/"), 403, "DENIED");
    expect(refused.message).toBe(expected);
    expect(refused.detail).toMatchObject({ limit: "uploadSessions", max: 3, usage: 3, tenant: "acme" });
    // A one-request upload opens a session for its duration: refused the same way; a mount that falls back to a session too.
    const bytes = new Uint8Array(randomBytes(10)) as Bytes;
    await expectOciError(await call("POST", `/v2/acme/web/blobs/uploads/?digest=${digestOf(bytes)}`, bytes), 403, "DENIED");
    await expectOciError(await call("POST", `/v2/acme/api/blobs/uploads/?mount=${digestOf(bytes)}&from=acme/web`), 403, "DENIED");
    expect(await staged()).toHaveLength(3);
    expect(await storage.metadata.uploadUsage(acme)).toMatchObject({ sessions: 3 });
    // Another tenant is not concerned.
    expect((await call("POST", "/v2/globex/app/blobs/uploads/")).status).toBe(202);

    // Cancelling one, or finishing one, makes room for another.
    expect((await call("DELETE", sessions[0]!)).status).toBe(204);
    await start();
    expect((await call("PUT", `${sessions[1]}?digest=${digestOf(bytes)}`, bytes, { "content-length": "10" })).status).toBe(201);
    await start();
    await expectOciError(await call("POST", "/v2/acme/web/blobs/uploads/"), 403, "DENIED");
    expect(await storage.metadata.uploadUsage(acme)).toMatchObject({ sessions: 3 });
  });

  it("lets exactly the limit of racing POSTs open a session", async () => {
    limit({ uploadSessions: 5 });
    const answers = await Promise.all(Array.from({ length: 25 }, () => call("POST", "/v2/acme/web/blobs/uploads/")));
    expect(answers.map((r) => r.status).sort()).toEqual([...Array(5).fill(202), ...Array(20).fill(403)]);
    expect(await staged()).toHaveLength(5);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 5, stagedBytes: 0, storedBytes: 0 });
  });

  it("limits nothing in single-tenant open mode", async () => {
    const open = createRegistry({ blobs: storage.blobs, metadata: storage.metadata, authorizer: new OpenOnLoopbackAuthorizer() });
    const post = () => open.handle(new Request("http://registry.test/v2/app/blobs/uploads/", { method: "POST" }), { remoteAddress: "127.0.0.1" });
    const answers = await Promise.all(Array.from({ length: 30 }, post));
    expect(answers.every((r) => r.status === 202)).toBe(true);
  });
});

describe("the sweep of expired sessions", () => {
  it("removes every expired session in one run, over a thousand, with its staged file and its place in the limits", { timeout: 60_000 }, async () => {
    limit({ uploadSessions: 2_000, storedBytes: 10 * MiB });
    const expired = await Promise.all(Array.from({ length: 1_100 }, () => start()));
    for (const session of expired.slice(0, 5)) expect((await call("PATCH", session, new Uint8Array(1_000) as Bytes)).status).toBe(202);
    now += (TTL_SECONDS + 1) * 1000;
    const live = await start();
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 1_101, stagedBytes: 5_000, storedBytes: 0 });

    expect(await registry.expireUploads()).toBe(1_100);
    expect(await staged()).toHaveLength(1);
    expect(await storage.metadata.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 0, storedBytes: 0 });
    await expectOciError(await call("GET", expired[0]!), 404, "BLOB_UPLOAD_UNKNOWN");
    expect((await call("GET", live)).status).toBe(204);
    expect(await registry.expireUploads()).toBe(0);
  });

  it("goes page after page, and stops starting pages once its time is up", async () => {
    await Promise.all(Array.from({ length: 30 }, () => start()));
    now += (TTL_SECONDS + 1) * 1000;
    expect(await registry.expireUploads({ pageSize: 7 })).toBe(30);
    await Promise.all(Array.from({ length: 30 }, () => start()));
    now += (TTL_SECONDS + 1) * 1000;
    // Out of time already: one page, the rest left for the next run.
    expect(await registry.expireUploads({ pageSize: 7, until: Date.now() - 1 })).toBe(7);
    expect(await registry.expireUploads()).toBe(23);
    expect(await staged()).toEqual([]);
  });

  it("is set by --sweep-interval or STRATUS_SWEEP_INTERVAL_SECONDS, every minute by default", () => {
    expect(parseServerOptions([], {})).toMatchObject({ sweepIntervalSeconds: 60 });
    expect(parseServerOptions(["--sweep-interval", "15"], {})).toMatchObject({ sweepIntervalSeconds: 15 });
    expect(parseServerOptions([], { STRATUS_SWEEP_INTERVAL_SECONDS: "300" })).toMatchObject({ sweepIntervalSeconds: 300 });
    expect(() => parseServerOptions(["--sweep-interval", "0"], {})).toThrow(/sweepIntervalSeconds/);
  });
});

describe("plans set the upload bounds on a multi-tenant server", () => {
  let server: RunningServer;
  let serverDir: string;
  const adminToken = `operator-${randomBytes(24).toString("base64url")}`;

  beforeEach(async () => {
    serverDir = await mkdtemp(join(tmpdir(), "stratus-upload-bounds-mt-"));
    server = await startServer(
      serverOptionsSchema.parse({ port: 0, dataDir: serverDir, logLevel: "silent", multiTenant: true, adminToken, tokenSecrets: randomBytes(32).toString("base64url") }),
    );
  });
  afterEach(async () => {
    await server.close();
    await rm(serverDir, { recursive: true, force: true });
  });

  const send = (method: string, path: string, authorization: string, body?: unknown) =>
    fetch(new URL(path, server.url), {
      method,
      headers: { authorization, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  it("refuses a push key's third session on a plan of two, and counts staged bytes against the plan's storage", async () => {
    const operator = `Bearer ${adminToken}`;
    const plan = await send("PUT", "/admin/v1/plans/small", operator, { limits: { repositories: null, storedBytes: 1_000, manifestsPerRepository: null, uploadSessions: 2 } });
    expect(await plan.json()).toMatchObject({ limits: { uploadSessions: 2, storedBytes: 1_000 } });
    expect((await send("POST", "/admin/v1/tenants", operator, { id: "solo", plan: "small" })).status).toBe(201);
    const created = await send("POST", "/admin/v1/tenants/solo/keys", operator, { role: "push" });
    const push = `Basic ${Buffer.from(`solo:${((await created.json()) as { key: string }).key}`).toString("base64")}`;

    const first = await send("POST", "/v2/solo/app/blobs/uploads/", push);
    expect(first.status).toBe(202);
    expect((await send("POST", "/v2/solo/app/blobs/uploads/", push)).status).toBe(202);
    const third = await expectOciError(await send("POST", "/v2/solo/app/blobs/uploads/", push), 403, "DENIED");
    expect(third.message).toMatch(/^tenant solo has 2 of its 2 upload sessions open/);

    const patched = await fetch(new URL(first.headers.get("location")!, server.url), {
      method: "PATCH", headers: { authorization: push, "content-type": "application/octet-stream" }, body: new Uint8Array(1_001),
    });
    expect((await expectOciError(patched, 403, "DENIED")).detail).toMatchObject({ limit: "storedBytes", max: 1_000 });
    const usage = (await (await send("GET", "/admin/v1/tenants/solo/usage", operator)).json()) as Record<string, unknown>;
    expect(usage).toMatchObject({ uploadSessions: { used: 1, limit: 2 }, stagedBytes: { used: 0 }, storedBytes: { used: 0, limit: 1_000 } });
  });
});
