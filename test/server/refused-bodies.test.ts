import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "@stratus/server";
import { rawRequest, sleep } from "../http-api/client.ts";
import { requestHead, writeThenRead, type RawOutcome } from "../support/write-then-read.ts";

// Issue 10, item 2: a request the registry refuses before reading its body (416, 401, 404, 413) must
// reach a client that is still writing a multi-MiB body as that status, not as a broken pipe or a
// reset. Each run is one such client (write-then-read.ts: it reads only once its body is out, the
// strictest kind), over its own connection, as a push client's would be.

const BODY = randomBytes(8 * 1024 * 1024);

async function runs(count: number, port: number, head: (length: number) => string): Promise<RawOutcome[]> {
  const outcomes: RawOutcome[] = [];
  for (let i = 0; i < count; i++) outcomes.push(await writeThenRead(port, head(BODY.length), BODY));
  return outcomes;
}

/** Outcomes counted by status or error, for a failure message that shows the whole distribution. */
function tally(outcomes: RawOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.status !== undefined ? String(o.status) : o.error!;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

async function start(options: ServerOptionsInput) {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-refused-"));
  const server = await startServer(serverOptionsSchema.parse({ port: 0, dataDir, logLevel: "silent", ...options }));
  return { server, dataDir };
}

/** Every connection the runs opened is closed by the server: none is left lingering. */
async function expectNoConnections(server: RunningServer): Promise<void> {
  const count = () => new Promise<number>((resolve, reject) => server.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
  for (const deadline = Date.now() + 5_000; Date.now() < deadline && (await count()) > 0; ) await sleep(20);
  expect(await count()).toBe(0);
}

describe("a request refused before its body is read, while the client writes 8 MiB", () => {
  let open: { server: RunningServer; dataDir: string };
  beforeAll(async () => {
    open = await start({});
  });
  afterAll(async () => {
    await open.server.close();
    await rm(open.dataDir, { recursive: true, force: true });
  });

  it("an out-of-order PATCH answers 416, 100 times out of 100, and stages nothing", async () => {
    // Raw requests that close their connection, so only the runs' connections are left to count.
    const post = await rawRequest(open.server.url, "POST", "/v2/refused/app/blobs/uploads/", { connection: "close" });
    expect(post.status).toBe(202);
    const location = post.headers.location!;
    const outcomes = await runs(100, open.server.port, (length) =>
      requestHead("PATCH", location, { "content-type": "application/octet-stream", "content-range": `${1024}-${1024 + length - 1}` }, length),
    );
    expect(tally(outcomes)).toEqual({ 416: 100 });
    // Nothing of the refused bodies was staged: the session is still empty.
    const status = await rawRequest(open.server.url, "GET", location, { connection: "close" });
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe(post.headers.range);
    await expectNoConnections(open.server);
  });

  it("a PATCH to an unknown session answers 404, and a manifest over the limit 413, every time", async () => {
    const before = await readdir(join(open.dataDir, "uploads")).catch(() => []);
    const unknown = await runs(30, open.server.port, (length) => requestHead("PATCH", `/v2/refused/app/blobs/uploads/${randomUUID()}`, { "content-type": "application/octet-stream" }, length));
    expect(tally(unknown)).toEqual({ 404: 30 });
    const manifests = await runs(30, open.server.port, (length) => requestHead("PUT", "/v2/refused/app/manifests/big", { "content-type": "application/vnd.oci.image.manifest.v1+json" }, length));
    expect(tally(manifests)).toEqual({ 413: 30 });
    expect(await readdir(join(open.dataDir, "uploads")).catch(() => [])).toEqual(before);
    await expectNoConnections(open.server);
  });

  it("multi-tenant: a PATCH without credentials answers 401, every time", async () => {
    const mt = await start({ multiTenant: true, adminToken: `operator-${randomBytes(24).toString("base64url")}`, tokenSecrets: `signing-${randomBytes(32).toString("base64url")}` });
    try {
      const outcomes = await runs(30, mt.server.port, (length) => requestHead("PATCH", `/v2/acme/app/blobs/uploads/${randomUUID()}`, { "content-type": "application/octet-stream" }, length));
      expect(tally(outcomes)).toEqual({ 401: 30 });
      expect(await readdir(join(mt.dataDir, "uploads")).catch(() => [])).toEqual([]);
      await expectNoConnections(mt.server);
    } finally {
      await mt.server.close();
      await rm(mt.dataDir, { recursive: true, force: true });
    }
  });
});
