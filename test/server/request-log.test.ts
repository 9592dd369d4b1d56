import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "@stratus/server";
import { OCI_MANIFEST, RegistryClient, randomBlob, sleep, streamedBody } from "../http-api/client.ts";
import { basic, bearer, DEFAULT_SERVICE, MultiTenantClient, uniqueTenant } from "../multi-tenant/deployment.ts";
import { freePort } from "../support/free-ports.ts";
import { requestHead, writeThenRead } from "../support/write-then-read.ts";

// Issue 10, item 11: one log line per request with the body bytes actually received, the client's
// address and user agent, the tenant and key id of the caller (never a secret), and a request id
// the client also gets (X-Request-Id).

interface Line {
  msg: string;
  requestId: string;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesDiscarded?: number;
  remoteAddress?: string;
  userAgent?: string;
  tenant?: string;
  keyId?: string;
}

const USER_AGENT = "stratus-log-test/1.0 (+containerd-like)";

/** A server whose log lines land in `text`, pino writing synchronously to an in-memory stream. */
async function start(options: ServerOptionsInput) {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-log-"));
  let text = "";
  const logger = pino({ level: "info" }, { write: (line: string) => void (text += line) });
  const server = await startServer(serverOptionsSchema.parse({ port: 0, dataDir, logLevel: "info", ...options }), logger);
  return {
    server,
    text: () => text,
    lines: () => text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line).filter((l) => l.msg === "request"),
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
type Logged = Awaited<ReturnType<typeof start>>;

/** The request's line, found by the id its answer carried; lines are written once a request is over. */
async function lineOf(log: Logged, res: Response | { headers: Record<string, string> }): Promise<Line> {
  const id = res instanceof Response ? res.headers.get("x-request-id") : res.headers["x-request-id"];
  expect(id, "X-Request-Id").toMatch(/^[0-9a-f-]{36}$/);
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await sleep(10)) {
    const line = log.lines().find((l) => l.requestId === id);
    if (line) return line;
  }
  throw new Error(`no log line for request ${id}`);
}

describe("the request log", () => {
  let log: Logged;
  const client = new RegistryClient();
  const headers = { "user-agent": USER_AGENT };
  beforeAll(async () => {
    log = await start({});
    client.url = log.server.url;
  });
  afterAll(() => log.close());

  it("a manifest PUT: bytesIn is the manifest's size; address, user agent and request id are there", async () => {
    const config = await client.pushDescriptor("log/app", "application/vnd.oci.image.config.v1+json", randomBlob(100).bytes);
    const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] }));
    const res = await client.fetch("/v2/log/app/manifests/v1", { method: "PUT", headers: { ...headers, "content-type": OCI_MANIFEST }, body: manifest });
    expect(res.status).toBe(201);
    const line = await lineOf(log, res);
    expect(line).toMatchObject({ method: "PUT", path: "/v2/log/app/manifests/v1", status: 201, bytesIn: manifest.length, userAgent: USER_AGENT });
    expect(line.remoteAddress).toMatch(/127\.0\.0\.1$/);
    expect(line.bytesDiscarded).toBeUndefined();
  });

  it("a streamed multi-MiB PATCH: bytesIn is exactly the chunk", async () => {
    const location = await client.startUpload("log/app");
    const parts = [randomBlob(3 * 1024 * 1024).bytes, randomBlob(1).bytes, randomBlob(2 * 1024 * 1024 + 7).bytes];
    const res = await client.fetch(location.toString(), { method: "PATCH", headers: { ...headers, "content-type": "application/octet-stream" }, ...streamedBody(...parts) });
    expect(res.status).toBe(202);
    expect((await lineOf(log, res)).bytesIn).toBe(5 * 1024 * 1024 + 8);
  });

  it("a refused PATCH: the body dropped after the answer counts as received, and as discarded", async () => {
    const location = await client.startUpload("log/app");
    const body = randomBytes(8 * 1024 * 1024);
    const head = requestHead("PATCH", location.pathname, { "content-type": "application/octet-stream", "content-range": `10-${10 + body.length - 1}` }, body.length);
    const answer = await writeThenRead(log.server.port, head, body);
    expect(answer.status).toBe(416);
    expect(await lineOf(log, { headers: answer.headers! })).toMatchObject({ status: 416, bytesIn: body.length, bytesDiscarded: body.length });
  });

  it("the request id is the server's own: one the client sends is neither echoed nor logged", async () => {
    const res = await client.fetch("/v2/", { headers: { "x-request-id": "forged-id" } });
    expect(res.headers.get("x-request-id")).not.toBe("forged-id");
    await lineOf(log, res);
    expect(log.text()).not.toContain("forged-id");
  });
});

describe("the request log in multi-tenant mode", () => {
  let log: Logged;
  let mt: MultiTenantClient;
  const adminToken = `operator-${randomBytes(24).toString("base64url")}`;
  const tokenSecrets = `signing-${randomBytes(32).toString("base64url")}`;
  beforeAll(async () => {
    log = await start({ multiTenant: true, adminToken, tokenSecrets });
    mt = new MultiTenantClient({ url: log.server.url, adminToken, tokenSecrets, service: DEFAULT_SERVICE, close: async () => {} });
  });
  afterAll(() => log.close());

  it("names the tenant and key id of every request made with a key or its token, and never a secret", async () => {
    const tenant = await mt.createTenant(uniqueTenant("log"));
    const push = await mt.createKey(tenant, "push");
    const pull = await mt.createKey(tenant, "pull");
    const repository = `${tenant}/app`;
    const byKey = { tenant, keyId: push.id };

    // Basic credentials straight to /v2.
    const started = await mt.send("POST", `/v2/${repository}/blobs/uploads/`, basic(push));
    expect(started.status).toBe(202);
    expect(await lineOf(log, started)).toMatchObject({ status: 202, ...byKey });
    // The token flow: /token names the key that asked, and requests with the token name it too.
    const tokenRes = await mt.send("GET", `/token?service=${DEFAULT_SERVICE}&scope=repository:${repository}:pull,push`, basic(push));
    expect(tokenRes.status).toBe(200);
    const token = ((await tokenRes.json()) as { token: string }).token;
    expect(await lineOf(log, tokenRes)).toMatchObject({ path: "/token", status: 200, ...byKey });
    const image = await mt.pushImage(repository, "v1", bearer(token));
    const manifest = await mt.send("GET", `/v2/${repository}/manifests/v1`, bearer(token), { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(manifest.status).toBe(200);
    expect(await lineOf(log, manifest)).toMatchObject(byKey);
    // Refused: a pull key pushing (403) is named; no credentials (401) names nobody.
    const denied = await mt.send("POST", `/v2/${repository}/blobs/uploads/`, basic(pull));
    expect(denied.status).toBe(403);
    expect(await lineOf(log, denied)).toMatchObject({ status: 403, tenant, keyId: pull.id });
    const anonymous = await mt.send("POST", `/v2/${repository}/blobs/uploads/`, undefined);
    expect(anonymous.status).toBe(401);
    const unnamed = await lineOf(log, anonymous);
    expect(unnamed.tenant).toBeUndefined();
    expect(unnamed.keyId).toBeUndefined();
    // The admin API: a tenant admin key is named.
    const admin = await mt.createKey(tenant, "admin");
    const keys = await mt.admin("GET", `/admin/v1/tenants/${tenant}/keys`, undefined, basic(admin));
    expect(keys.status).toBe(200);
    expect(await lineOf(log, keys)).toMatchObject({ tenant, keyId: admin.id });

    // No secret anywhere in the log: no key, no token, no operator token, no Authorization header.
    const text = log.text();
    for (const secret of [push.key, pull.key, admin.key, token, adminToken, tokenSecrets, basic(push).split(" ")[1]!]) expect(text).not.toContain(secret);
    for (const key of [push, pull, admin]) expect(text).not.toContain(key.key.slice(key.key.lastIndexOf("_") + 1));
    expect(text.toLowerCase()).not.toContain("authorization");
    expect(image.manifestDigest).toMatch(/^sha256:/);
  });

  it("an upload-link request (the upload service: no credentials) names its repository's tenant, never the link's token", async () => {
    const port = await freePort();
    const service = await start({ port, multiTenant: true, adminToken, tokenSecrets, uploadUrl: `http://127.0.0.1:${port}`, uploadTokenSecret: randomBytes(32).toString("hex") });
    try {
      const client = new MultiTenantClient({ url: service.server.url, adminToken, tokenSecrets, service: DEFAULT_SERVICE, close: async () => {} });
      const tenant = await client.createTenant(uniqueTenant("link"));
      const push = await client.createKey(tenant, "push");
      const started = await client.send("POST", `/v2/${tenant}/app/blobs/uploads/`, basic(push));
      expect(started.status).toBe(202);
      const link = new URL(started.headers.get("location")!);
      const state = link.searchParams.get("_state")!;
      expect(state.length).toBeGreaterThan(20);
      const patched = await fetch(link, { method: "PATCH", headers: { "content-type": "application/octet-stream" }, body: randomBytes(1000) });
      expect(patched.status).toBe(202);
      const line = await lineOf(service, patched);
      expect(line).toMatchObject({ status: 202, bytesIn: 1000, tenant });
      expect(line.keyId).toBeUndefined();
      expect(service.text()).not.toContain(state);
    } finally {
      await service.close();
    }
  });
});
