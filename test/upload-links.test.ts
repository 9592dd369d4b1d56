import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createRegistry, OpenOnLoopbackAuthorizer, UploadLinks, type Authorizer, type Registry } from "@stratus/core";
import { openLocalStorage, type LocalStorage } from "@stratus/storage-local";

// The API answers POST with a Location on the upload host carrying a signed token; the upload host,
// which sees no credentials (clients do not forward them across hosts), accepts exactly that session.

const UPLOAD_HOST = "https://upload.registry.test";
const secret = randomBytes(32);
const denyAll: Authorizer = { authorize: async () => ({ allowed: false, status: 401, message: "credentials required" }) };

const dirs: string[] = [];
const stores: LocalStorage[] = [];
afterEach(async () => {
  stores.splice(0).forEach((s) => s.close());
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function apiAndUploadService(uploadSecret = secret): Promise<{ api: Registry; upload: Registry }> {
  const dir = await mkdtemp(join(tmpdir(), "stratus-links-"));
  dirs.push(dir);
  const make = async (authorizer: Authorizer, key: Uint8Array) => {
    const storage = await openLocalStorage(dir);
    stores.push(storage);
    const uploadLinks = new UploadLinks({ baseUrl: UPLOAD_HOST, secret: key, ttlSeconds: 3600 });
    return createRegistry({ blobs: storage.blobs, metadata: storage.metadata, authorizer, uploadLinks }, { resumableHashing: true });
  };
  return { api: await make(new OpenOnLoopbackAuthorizer(), secret), upload: await make(denyAll, uploadSecret) };
}

const call = (registry: Registry, method: string, url: string, body?: Uint8Array) =>
  registry.handle(new Request(url.startsWith("http") ? url : `http://api.registry.test${url}`, { method, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}) }), {
    remoteAddress: "127.0.0.1",
  });
const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("upload links to the upload service", () => {
  it("POST answers with a token-carrying Location on the upload host, which completes the upload without credentials", async () => {
    const { api, upload } = await apiAndUploadService();
    const data = randomBytes(50_000);
    const started = await call(api, "POST", "/v2/team/app/blobs/uploads/");
    expect(started.status).toBe(202);
    const location = started.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^${UPLOAD_HOST}/v2/team/app/blobs/uploads/[0-9a-f-]{36}\\?_state=[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));

    const patched = await call(upload, "PATCH", location, data);
    expect(patched.status).toBe(202);
    const next = patched.headers.get("location")!;
    expect(next.startsWith(`${UPLOAD_HOST}/v2/team/app/blobs/uploads/`)).toBe(true);
    const done = await call(upload, "PUT", `${next}&digest=${sha(data)}`);
    expect(done.status).toBe(201);
    expect((await call(api, "HEAD", `/v2/team/app/blobs/${sha(data)}`)).status).toBe(200);
  });

  it("refuses a missing, tampered, foreign-key or other-session token", async () => {
    const { api, upload } = await apiAndUploadService();
    const a = (await call(api, "POST", "/v2/team/app/blobs/uploads/")).headers.get("location")!;
    const b = (await call(api, "POST", "/v2/team/app/blobs/uploads/")).headers.get("location")!;
    const [pathA, tokenA] = a.split("?_state=") as [string, string];
    const [pathB] = b.split("?_state=") as [string, string];

    expect((await call(upload, "GET", pathA)).status).toBe(401);
    const tampered = tokenA.slice(0, -3) + (tokenA.endsWith("A") ? "BBB" : "AAA");
    expect((await call(upload, "GET", `${pathA}?_state=${tampered}`)).status).toBe(401);
    const other = await call(upload, "GET", `${pathB}?_state=${tokenA}`);
    expect(other.status).toBe(401);
    expect(((await other.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("UNAUTHORIZED");
    // The token grants the session, not the repository: reading a blob still needs credentials.
    expect((await call(upload, "GET", `/v2/team/app/tags/list?_state=${tokenA}`)).status).toBe(401);
    expect((await call(upload, "GET", a)).status).toBe(204);

    const { upload: otherKey } = await apiAndUploadService(randomBytes(32));
    expect((await call(otherKey, "GET", a)).status).toBe(401);
  });

  it("refuses an expired token", async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratus-links-"));
    dirs.push(dir);
    const storage = await openLocalStorage(dir);
    stores.push(storage);
    const links = new UploadLinks({ baseUrl: UPLOAD_HOST, secret, ttlSeconds: 1 });
    const registry = createRegistry({ blobs: storage.blobs, metadata: storage.metadata, authorizer: denyAll, uploadLinks: links });
    const open = createRegistry({ blobs: storage.blobs, metadata: storage.metadata, authorizer: new OpenOnLoopbackAuthorizer(), uploadLinks: links });
    const location = (await call(open, "POST", "/v2/team/app/blobs/uploads/")).headers.get("location")!;
    expect((await call(registry, "GET", location)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await call(registry, "GET", location)).status).toBe(401);
  });

  it("refuses a secret shorter than 32 bytes", () => {
    expect(() => new UploadLinks({ baseUrl: UPLOAD_HOST, secret: randomBytes(16), ttlSeconds: 60 })).toThrow(/32 bytes/);
  });
});
