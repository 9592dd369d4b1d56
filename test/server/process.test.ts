import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { parseServerOptions } from "@stratus/server";
import { freePort } from "../support/free-ports.ts";

// The server as users run it: `npm start`, its request log on stdout, and graceful shutdown on SIGTERM.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  // Each child leads its own process group: `npm start` runs the server as a grandchild, which a
  // kill of npm alone would leave running.
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});


/** A server process on a new data directory, or on `dataDir`; resolves once it listens. */
async function start(command: string[], extra: string[] = [], dataDir?: string) {
  const server = await spawnServer(command, extra, dataDir);
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    if (/listening on/.test(server.output())) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(server.output()).toMatch(/Stratus registry listening on/);
  return server;
}

async function spawnServer(command: string[], extra: string[] = [], existingDataDir?: string) {
  const dataDir = existingDataDir ?? (await mkdtemp(join(tmpdir(), "stratus-process-")));
  if (!existingDataDir) dirs.push(dataDir);
  const port = await freePort();
  const child = spawn(command[0]!, [...command.slice(1), "--port", String(port), "--data-dir", dataDir, ...extra], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
    detached: true,
  });
  children.push(child);
  let stdout = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  return { child, url, exited, dataDir, output: () => stdout };
}

describe("the server process", () => {
  it("`npm start` serves the API and logs one JSON line per request", async () => {
    const server = await start(["npm", "start", "--silent", "--"]);
    const res = await fetch(`${server.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    await fetch(`${server.url}/v2/no/such/manifests/latest?secret=abc`);
    for (const deadline = Date.now() + 5_000; Date.now() < deadline && !/"status":404/.test(server.output()); ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const lines = server.output().split("\n").filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l));
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ method: "GET", path: "/v2/", status: 200, bytesIn: expect.any(Number), bytesOut: expect.any(Number), ms: expect.any(Number) }),
        expect.objectContaining({ method: "GET", path: "/v2/no/such/manifests/latest", status: 404 }),
      ]),
    );
    // The query string (later: tokens) never reaches the log.
    expect(server.output()).not.toContain("secret=abc");
  });

  it("on SIGTERM finishes the upload in flight, refuses new connections, and exits 0", async () => {
    const server = await start([process.execPath, "--import", "tsx", "packages/server/src/main.ts"]);
    const post = await fetch(`${server.url}/v2/shutdown/app/blobs/uploads/`, { method: "POST" });
    const location = post.headers.get("location")!;
    const half = Buffer.alloc(512 * 1024, 1);

    const answer = new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}${location}`, { method: "PATCH", headers: { "transfer-encoding": "chunked" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write(half, () => {
        // Half the body is out: stop the server now, then send the rest.
        server.child.kill("SIGTERM");
        setTimeout(() => req.end(half), 300);
      });
    });
    expect(await answer).toBe(202);
    expect(await server.exited).toBe(0);
    await expect(fetch(`${server.url}/v2/`)).rejects.toThrow();
    expect(server.output()).toMatch(/shutting down/);
  });
});

describe("a data directory remembers the tenancy mode it was created in", () => {
  const serve = [process.execPath, "--import", "tsx", "packages/server/src/main.ts"];

  it("multi-tenant data is not served open: refused in one line with exit code 1, served by nothing; --accept-mode-change starts it", async () => {
    const first = await start(serve, ["--multi-tenant"]);
    const operator = { authorization: `Bearer ${(await readFile(join(first.dataDir, "admin-token"), "utf8")).trim()}`, "content-type": "application/json" };
    const tenant = await fetch(`${first.url}/admin/v1/tenants`, { method: "POST", headers: operator, body: JSON.stringify({ id: "acme" }) });
    expect(tenant.status).toBe(201);
    const { key } = (await (await fetch(`${first.url}/admin/v1/tenants/acme/keys`, { method: "POST", headers: operator, body: JSON.stringify({ role: "push" }) })).json()) as { key: string };
    const auth = { authorization: `Basic ${Buffer.from(`acme:${key}`).toString("base64")}` };
    const blob = randomBytes(64);
    const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    const pushed = await fetch(`${first.url}/v2/acme/private/blobs/uploads/?digest=${digest}`, { method: "POST", headers: auth, body: blob });
    expect(pushed.status).toBe(201);
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    // Without --multi-tenant, acme's private blob would be anyone's: the start is refused.
    const refused = await spawnServer(serve, [], first.dataDir);
    expect(await refused.exited).toBe(1);
    const said = refused.output().trim().split("\n").filter((line) => line.trim() !== "");
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^stratus: refusing to start: data directory .* was created in multi-tenant mode and holds repositories; .*without authentication/);
    expect(said[0]).toContain("--multi-tenant");
    expect(said[0]).toContain("--accept-mode-change");
    await expect(fetch(`${refused.url}/v2/acme/private/blobs/${digest}`)).rejects.toThrow();

    // Nothing was changed: multi-tenant again, the blob is the key's only.
    const again = await start(serve, ["--multi-tenant"], first.dataDir);
    expect((await fetch(`${again.url}/v2/acme/private/blobs/${digest}`)).status).toBe(401);
    expect((await fetch(`${again.url}/v2/acme/private/blobs/${digest}`, { headers: auth })).status).toBe(200);
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);

    // Said plainly, it starts open (and the directory is open from now on).
    const accepted = await start(serve, ["--accept-mode-change"], first.dataDir);
    expect(accepted.output()).toMatch(/now serves in another tenancy mode/);
    expect((await fetch(`${accepted.url}/v2/`)).status).toBe(200);
  });
});

describe("shutdown grace", () => {
  // The upload service's task sets it under Fargate's 120 s stop timeout (stacks/src/upload-service.ts).
  it("is set by --shutdown-grace or STRATUS_SHUTDOWN_GRACE_SECONDS, 10 s by default", () => {
    expect(parseServerOptions([], {})).toMatchObject({ shutdownGraceSeconds: 10 });
    expect(parseServerOptions(["--shutdown-grace", "30"], {})).toMatchObject({ shutdownGraceSeconds: 30 });
    expect(parseServerOptions([], { STRATUS_SHUTDOWN_GRACE_SECONDS: "110" })).toMatchObject({ shutdownGraceSeconds: 110 });
  });
});
