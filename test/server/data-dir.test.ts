import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TenancyModeError } from "@stratus/core";
import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "@stratus/server";
import { expectPrivateTree } from "../support/private-files.ts";

// The data directory of the local server (issue 10, items 8 and 9): what it holds is its user's
// only, and it is never served in a tenancy mode that would expose or misattribute what it holds.
// The process-level refusal (one line on stderr, exit code 1) is in process.test.ts.

const dirs: string[] = [];
const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stratus-data-dir-"));
  dirs.push(dir);
  return join(dir, "data");
}

async function serve(options: ServerOptionsInput): Promise<RunningServer> {
  const server = await startServer(serverOptionsSchema.parse({ port: 0, logLevel: "silent", ...options }));
  running.push(server);
  return server;
}

async function stop(server: RunningServer): Promise<void> {
  running.splice(running.indexOf(server), 1);
  await server.close();
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

describe("the local server's data directory", () => {
  it("holds nothing readable by group or others after a push, a staged upload and generated secrets, whatever the umask", async () => {
    const previous = process.umask(0o022);
    try {
      const dir = await dataDir();
      const server = await serve({ dataDir: dir, multiTenant: true });
      const operator = { authorization: `Bearer ${(await readFile(join(dir, "admin-token"), "utf8")).trim()}`, "content-type": "application/json" };
      expect((await fetch(`${server.url}/admin/v1/tenants`, { method: "POST", headers: operator, body: JSON.stringify({ id: "acme" }) })).status).toBe(201);
      const created = await fetch(`${server.url}/admin/v1/tenants/acme/keys`, { method: "POST", headers: operator, body: JSON.stringify({ role: "push" }) });
      const auth = { authorization: `Basic ${Buffer.from(`acme:${((await created.json()) as { key: string }).key}`).toString("base64")}` };
      const blob = new Uint8Array(randomBytes(100));
      expect((await fetch(`${server.url}/v2/acme/app/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", headers: auth, body: blob })).status).toBe(201);
      const staged = await fetch(`${server.url}/v2/acme/app/blobs/uploads/`, { method: "POST", headers: auth });
      expect((await fetch(new URL(staged.headers.get("location")!, server.url), { method: "PATCH", headers: auth, body: blob })).status).toBe(202);

      const files = await expectPrivateTree(dir);
      // What the walk covered: the database (open, so with its WAL), the secrets, a blob and a staged upload.
      expect(files).toEqual(expect.arrayContaining(["metadata.db", "metadata.db-wal", "admin-token", "token-secrets", `blobs/acme/sha256/${sha256(blob).slice(7, 9)}/${sha256(blob).slice(7)}`]));
      expect(files.filter((f) => f.startsWith("uploads/"))).toHaveLength(1);
      await stop(server);
      await expectPrivateTree(dir);
    } finally {
      process.umask(previous);
    }
  });

  it("open data is not served multi-tenant (its repositories would go to tenants created later), unless the change is accepted", async () => {
    const dir = await dataDir();
    const open = await serve({ dataDir: dir });
    const blob = new Uint8Array(randomBytes(16));
    expect((await fetch(`${open.url}/v2/acme/app/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: blob })).status).toBe(201);
    await stop(open);

    const refused = serve({ dataDir: dir, multiTenant: true });
    await expect(refused).rejects.toBeInstanceOf(TenancyModeError);
    const message = await refused.catch((e: Error) => e.message);
    expect(message).not.toContain("\n");
    expect(message).toMatch(/created in open \(single-tenant\) mode and holds repositories/);
    expect(message).toContain("--accept-mode-change");
    // Refused before anything was written: no generated secrets, and the open registry still starts as it was.
    await expect(readFile(join(dir, "admin-token"))).rejects.toMatchObject({ code: "ENOENT" });
    const reopened = await serve({ dataDir: dir });
    expect((await fetch(`${reopened.url}/v2/acme/app/blobs/${sha256(blob)}`)).status).toBe(200);
    await stop(reopened);

    const accepted = await serve({ dataDir: dir, multiTenant: true, acceptModeChange: true, adminToken: "o".repeat(40), tokenSecrets: "s".repeat(40) });
    expect((await fetch(`${accepted.url}/v2/acme/app/blobs/${sha256(blob)}`)).status).toBe(401);
  });

  it("an empty data directory changes mode freely", async () => {
    const dir = await dataDir();
    await stop(await serve({ dataDir: dir, multiTenant: true, adminToken: "o".repeat(40), tokenSecrets: "s".repeat(40) }));
    const open = await serve({ dataDir: dir });
    expect((await fetch(`${open.url}/v2/`)).status).toBe(200);
  });
});
