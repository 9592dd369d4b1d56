import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createRegistry, OpenOnLoopbackAuthorizer, type Registry } from "@stratus/core";
import { openLocalStorage, type LocalStorage } from "@stratus/storage-local";

// Two registries over one storage stand in for two processes (Lambda instances): each chunk of an
// upload reaches a different one. With resumable hashing the SHA-256 state travels in the session,
// so no process re-reads the staged bytes; without it, the state is rebuilt from them.

const dirs: string[] = [];
const stores: LocalStorage[] = [];
afterEach(async () => {
  stores.splice(0).forEach((s) => s.close());
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function twoProcesses(resumableHashing: boolean) {
  const dir = await mkdtemp(join(tmpdir(), "stratus-xproc-"));
  dirs.push(dir);
  const make = async () => {
    const storage = await openLocalStorage(dir);
    stores.push(storage);
    const readUpload = vi.spyOn(storage.blobs, "readUpload");
    const registry = createRegistry({ blobs: storage.blobs, metadata: storage.metadata, authorizer: new OpenOnLoopbackAuthorizer() }, { resumableHashing });
    return { registry, readUpload };
  };
  return [await make(), await make()] as const;
}

const call = (registry: Registry, method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}) =>
  registry.handle(new Request(`http://registry.local${path}`, { method, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}), headers }), { remoteAddress: "127.0.0.1" });

async function chunkedUpload(processes: readonly { registry: Registry }[], data: Uint8Array, chunk: number) {
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  const start = await call(processes[0]!.registry, "POST", "/v2/x/app/blobs/uploads/");
  let location = start.headers.get("location")!;
  for (let at = 0, i = 0; at < data.length; at += chunk, i++) {
    const part = data.subarray(at, Math.min(at + chunk, data.length));
    const res = await call(processes[i % 2]!.registry, "PATCH", location, part, {
      "content-range": `${at}-${at + part.length - 1}`,
      "content-length": String(part.length),
    });
    expect(res.status).toBe(202);
    location = res.headers.get("location")!;
  }
  const done = await call(processes[1]!.registry, "PUT", `${location}?digest=${digest}`);
  return { done, digest };
}

describe("an upload whose chunks reach different processes", () => {
  it("with resumable hashing, commits without re-reading staged bytes", async () => {
    const processes = await twoProcesses(true);
    const data = randomBytes(300_000);
    const { done, digest } = await chunkedUpload(processes, data, 70_001);
    expect(done.status).toBe(201);
    expect(done.headers.get("docker-content-digest")).toBe(digest);
    for (const p of processes) expect(p.readUpload).not.toHaveBeenCalled();
    const blob = await call(processes[0].registry, "GET", `/v2/x/app/blobs/${digest}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(data)).toBe(true);
  });

  it("without it, rebuilds the hash from the staged bytes and still commits the right digest", async () => {
    const processes = await twoProcesses(false);
    const data = randomBytes(200_000);
    const { done, digest } = await chunkedUpload(processes, data, 50_000);
    expect(done.status).toBe(201);
    expect(done.headers.get("docker-content-digest")).toBe(digest);
    expect(processes[0].readUpload.mock.calls.length + processes[1].readUpload.mock.calls.length).toBeGreaterThan(0);
  });

  it("with resumable hashing, still refuses a wrong digest and leaves no blob", async () => {
    const processes = await twoProcesses(true);
    const data = randomBytes(100_000);
    const start = await call(processes[0].registry, "POST", "/v2/x/app/blobs/uploads/");
    const patched = await call(processes[1].registry, "PATCH", start.headers.get("location")!, data, { "content-length": String(data.length) });
    const wrong = `sha256:${"0".repeat(64)}`;
    const res = await call(processes[0].registry, "PUT", `${patched.headers.get("location")}?digest=${wrong}`);
    expect(res.status).toBe(400);
    expect((await res.json()).errors[0].code).toBe("DIGEST_INVALID");
    const head = await call(processes[1].registry, "HEAD", `/v2/x/app/blobs/${wrong}`);
    expect(head.status).toBe(404);
  });
});
