import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
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


async function start(command: string[], extra: string[] = []) {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-process-"));
  dirs.push(dataDir);
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
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    if (/listening on/.test(stdout)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(stdout).toMatch(/Stratus registry listening on/);
  return { child, url, exited, output: () => stdout };
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
