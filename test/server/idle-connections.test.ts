import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "@stratus/server";
import { sleep } from "../http-api/client.ts";

// Issue 10, item 5: connections that never send a byte, or sit idle after an answer, are closed
// after the idle timeout; at most --max-connections are open at once; others are served meanwhile.

const IDLE_SECONDS = 1;

const running: { server: RunningServer; dataDir: string }[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const { server, dataDir } of running.splice(0)) {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

async function start(options: ServerOptionsInput) {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-idle-"));
  const server = await startServer(serverOptionsSchema.parse({ port: 0, dataDir, logLevel: "silent", idleTimeoutSeconds: IDLE_SECONDS, ...options }));
  running.push({ server, dataDir });
  return server;
}

/** Both ends of each idle connection live in this process: two descriptors each, and some to spare. */
async function idleBudget(wanted: number): Promise<number> {
  const limits = await readFile("/proc/self/limits", "utf8").catch(() => "");
  const open = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 1024);
  return Math.min(wanted, Math.floor((open - 400) / 2));
}

/**
 * Connections that never send a byte, opened in batches the listen backlog (511) holds: past it the
 * kernel completes handshakes the server never gets to accept. Resolves once the server has them all.
 */
async function silentConnections(server: RunningServer, count: number): Promise<Promise<void>[]> {
  const closed: Promise<void>[] = [];
  const before = await connections(server);
  for (let opened = 0; opened < count; ) {
    const batch = Math.min(250, count - opened);
    for (let i = 0; i < batch; i++) {
      const socket = connect({ port: server.port, host: "127.0.0.1" });
      socket.on("error", () => {});
      clients.push(socket);
      closed.push(new Promise((resolve) => socket.once("close", () => resolve())));
    }
    opened += batch;
    expect(await waitFor(async () => (await connections(server)) === before + opened, 2_000), `${opened} accepted`).toBe(true);
  }
  return closed;
}

function connections(server: RunningServer): Promise<number> {
  return new Promise((resolve, reject) => server.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
}

/** GET /v2/ on a connection of its own; the status, or the error that ended it. */
function probe(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(`${url}/v2/`, { agent: false, headers: { connection: "close" } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

/** The promise's value, or "timeout" after `ms`: a failure here says what did not happen, not "test timed out". */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  return Promise.race([promise, sleep(ms).then(() => "timeout" as const)]);
}

async function waitFor(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(25)) if (await condition()) return true;
  return condition();
}

describe("idle connections", () => {
  it("a couple of thousand connections that never speak are closed after the idle timeout; others are served meanwhile", async () => {
    const count = await idleBudget(2000);
    expect(count, "file descriptors for the idle connections").toBeGreaterThanOrEqual(500);
    // Long enough for all of them to connect before the first is closed.
    const idleSeconds = 4;
    const server = await start({ maxConnections: count + 100, idleTimeoutSeconds: idleSeconds });
    const opening = Date.now();
    const closed = await silentConnections(server, count);
    const opened = Date.now();
    expect(opened - opening, "time to open them all").toBeLessThan(idleSeconds * 1000);
    // The server answers while they sit there.
    expect(await probe(server.url)).toBe(200);
    // Closed by the server (these clients never close on their own), after the timeout, not before.
    expect(await within(Promise.all(closed), idleSeconds * 1000 + 5_000), "the server closed them all").not.toBe("timeout");
    const elapsed = Date.now() - opening;
    expect(elapsed).toBeGreaterThanOrEqual(idleSeconds * 1000 - 100);
    expect(elapsed).toBeLessThan(idleSeconds * 1000 + (opened - opening) + 3_000);
    // Nothing left: the server holds no connection, and still answers.
    expect(await waitFor(async () => (await connections(server)) === 0, 2_000)).toBe(true);
    expect(await probe(server.url)).toBe(200);
  });

  it("a keep-alive connection idle after its answer is closed after the idle timeout", async () => {
    const server = await start({});
    const socket = connect({ port: server.port, host: "127.0.0.1" });
    clients.push(socket);
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
    socket.write("GET /v2/ HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    expect(await waitFor(async () => received.includes("\r\n\r\n{}"), 2_000)).toBe(true);
    const answered = Date.now();
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    // node:http adds a second to the keep-alive timeout it announces.
    const at = await within(closed, IDLE_SECONDS * 1000 + 3_000);
    expect(at, "the server closed it").not.toBe("timeout");
    expect((at as number) - answered).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 100);
  });

  it("a connection that sends part of a request head and stops is closed after the idle timeout", async () => {
    const server = await start({});
    const socket = connect({ port: server.port, host: "127.0.0.1" });
    clients.push(socket);
    socket.on("error", () => {});
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write("GET /v2/ HTTP/1.1\r\nhost: 127.0");
    expect(await within(closed, IDLE_SECONDS * 1000 + 3_000), "the server closed it").not.toBe("timeout");
    expect(await waitFor(async () => (await connections(server)) === 0, 2_000)).toBe(true);
  });

  it.each([
    ["", {}],
    [" (Expect: 100-continue)", { expect: "100-continue" }],
  ])("a request in flight%s is not cut by the idle timeout, however long its body pauses", async (_, expect100: Record<string, string>) => {
    const server = await start({});
    const post = await probeUpload(server.url);
    const status = await new Promise<number | string>((resolve) => {
      const headers = { "content-type": "application/octet-stream", "transfer-encoding": "chunked", ...expect100 };
      const req = request(`${server.url}${post}`, { method: "PATCH", agent: false, headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      const send = () => {
        req.write(Buffer.alloc(1000, 1));
        // Twice the idle timeout without a byte, then the rest.
        setTimeout(() => req.end(Buffer.alloc(1000, 2)), IDLE_SECONDS * 2000 + 200);
      };
      if (expect100.expect) {
        req.flushHeaders();
        req.once("continue", send);
      } else send();
    });
    expect(status).toBe(202);
  });

  it("over --max-connections new connections are refused until idle ones are closed", async () => {
    const server = await start({ maxConnections: 50 });
    const closed = await silentConnections(server, 50);
    const refused = await probe(server.url);
    expect(typeof refused, `answered ${refused} past the limit`).toBe("string");
    expect(await within(Promise.all(closed), IDLE_SECONDS * 1000 + 3_000), "the server closed them").not.toBe("timeout");
    expect(await probe(server.url)).toBe(200);
    expect(await waitFor(async () => (await connections(server)) === 0, 2_000)).toBe(true);
  });
});

/** An upload session's path, from a POST on a connection of its own. */
function probeUpload(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v2/idle/app/blobs/uploads/`, { method: "POST", agent: false, headers: { connection: "close" } }, (res) => {
      res.resume();
      if (res.statusCode !== 202) reject(new Error(`POST answered ${res.statusCode}`));
      else resolve(res.headers.location!);
    });
    req.on("error", reject);
    req.end();
  });
}
