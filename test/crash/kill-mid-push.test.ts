import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { isolatedToolEnv, missingTools, run, type ToolEnv } from "../clients/tools.ts";
import { freePort } from "../support/free-ports.ts";

// Crash safety of the local server (DESIGN.md "Local embedded default": blobs written to a temporary
// file, fsync'd, renamed into place). The server runs as a child process and is SIGKILLed while many
// pushes are in flight; after a restart on the same data dir, everything the registry acknowledged
// (a 201 received by the client) must be there, intact, and nothing may sit under a digest path that
// does not hash to it.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const MiB = 1024 * 1024;

const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------
// The server as a child process


class ServerProcess {
  private output = "";
  private readonly exited: Promise<number | string | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString("utf8")).slice(-16_000));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  }

  static async start(dataDir: string): Promise<ServerProcess> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "packages/server/src/main.ts", "--port", String(port), "--data-dir", dataDir, "--log-level", "warn"],
        { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } },
      );
      const server = new ServerProcess(child, `http://127.0.0.1:${port}`);
      const ready = await server.waitReady();
      if (ready) return server;
      // Someone took the port between the probe and the listen: try another.
      if (attempt < 3 && /EADDRINUSE/.test(server.output)) continue;
      await server.kill();
      throw new Error(`server did not start on port ${port}:\n${server.output}`);
    }
  }

  private async waitReady(): Promise<boolean> {
    let gone = false;
    void this.exited.then(() => (gone = true));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !gone) {
      try {
        if ((await send(this.url, "GET", "/v2/")).status === 200) return true;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    return false;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  get log(): string {
    return this.output;
  }
}

// ---------------------------------------------------------------------------------------------------
// Plain HTTP, one connection per request (no pooled socket survives a kill into the next server)

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Body = Uint8Array | AsyncIterable<Uint8Array>;

function send(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: Body } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const headers: Record<string, string> = { ...options.headers };
    const body = options.body;
    if (body instanceof Uint8Array) headers["content-length"] = String(body.byteLength);
    else if (body === undefined && (method === "PUT" || method === "POST" || method === "PATCH")) headers["content-length"] = "0";
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      // A status line received is an answer, even if the connection dies before the (empty) body ends.
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      res.once("end", done);
      res.once("error", done);
      res.once("aborted", done);
    });
    req.once("error", reject);
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else {
      void (async () => {
        try {
          for await (const chunk of body) {
            if (req.destroyed) return;
            if (!req.write(chunk)) {
              await new Promise<void>((resolve) => {
                const go = () => {
                  req.off("drain", go);
                  req.off("close", go);
                  resolve();
                };
                req.on("drain", go);
                req.on("close", go);
              });
            }
          }
          req.end();
        } catch (e) {
          req.destroy(e as Error);
        }
      })();
    }
  });
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

// ---------------------------------------------------------------------------------------------------
// What the registry acknowledged

interface Ledger {
  /** repo@digest → size; a blob upload answered 201 (or part of a skopeo push that exited 0). */
  blobs: Map<string, { repo: string; digest: string; size: number }>;
  /** repo@digest → bytes; a manifest PUT answered 201. */
  manifests: Map<string, { repo: string; digest: string; bytes: Uint8Array }>;
  /** repo:tag → digest, for tags pushed exactly once. */
  onceTags: Map<string, { repo: string; tag: string; digest: string }>;
  /** repo:tag moved by one writer at a time: the last acknowledged digest, or the one whose PUT got no answer. */
  movingTags: Map<string, { repo: string; tag: string; acked?: string; inFlight?: string }>;
  /** repo:tag written concurrently by several writers: any digest ever sent may win. */
  sharedTags: Map<string, { repo: string; tag: string; sent: Set<string>; acked: boolean }>;
  /** Answers that are wrong whether or not a kill happened. */
  unexpected: string[];
}

const newLedger = (): Ledger => ({
  blobs: new Map(),
  manifests: new Map(),
  onceTags: new Map(),
  movingTags: new Map(),
  sharedTags: new Map(),
  unexpected: [],
});

// ---------------------------------------------------------------------------------------------------
// Pushing over HTTP, every upload style the spec has

interface Phase {
  url: string;
  killed: boolean;
  manifestsAcked: number;
}

type UploadStyle = "post-digest" | "post-put" | "patch-put" | "two-chunks" | "streamed";
const STYLES: UploadStyle[] = ["post-digest", "post-put", "patch-put", "two-chunks", "streamed"];

async function* streamOf(bytes: Uint8Array, pieces = 3): AsyncGenerator<Uint8Array> {
  const step = Math.ceil(bytes.length / pieces);
  for (let i = 0; i < bytes.length; i += step) {
    yield bytes.subarray(i, i + step);
    await sleep(0);
  }
}

class Pusher {
  constructor(
    private readonly phase: Phase,
    private readonly ledger: Ledger,
  ) {}

  private fail(what: string, reply: Reply): never {
    const message = `${what}: unexpected ${reply.status} ${reply.body.toString("utf8").slice(0, 300)}`;
    this.ledger.unexpected.push(message);
    throw new Error(message);
  }

  private async startUpload(repo: string): Promise<string> {
    const reply = await send(this.phase.url, "POST", `/v2/${repo}/blobs/uploads/`);
    if (reply.status !== 202 || typeof reply.headers.location !== "string") this.fail(`POST upload ${repo}`, reply);
    return new URL(reply.headers.location, this.phase.url).toString();
  }

  private withDigest(location: string, digest: string): string {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    return url.toString();
  }

  async pushBlob(repo: string, bytes: Uint8Array, style: UploadStyle): Promise<string> {
    const digest = sha256(bytes);
    let reply: Reply;
    const octets = { "content-type": "application/octet-stream" };
    switch (style) {
      case "post-digest":
        reply = await send(this.phase.url, "POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: octets, body: bytes });
        break;
      case "post-put": {
        const location = await this.startUpload(repo);
        reply = await send(location, "PUT", this.withDigest(location, digest), { headers: octets, body: bytes });
        break;
      }
      case "patch-put": {
        let location = await this.startUpload(repo);
        const patched = await send(location, "PATCH", location, { headers: octets, body: bytes });
        if (patched.status !== 202) this.fail(`PATCH ${repo}`, patched);
        location = new URL(patched.headers.location as string, location).toString();
        reply = await send(location, "PUT", this.withDigest(location, digest));
        break;
      }
      case "two-chunks": {
        let location = await this.startUpload(repo);
        const cut = Math.max(1, Math.floor(bytes.length / 2));
        for (const [start, end] of [
          [0, cut],
          [cut, bytes.length],
        ] as const) {
          const patched = await send(location, "PATCH", location, {
            headers: { ...octets, "content-range": `${start}-${end - 1}` },
            body: bytes.subarray(start, end),
          });
          if (patched.status !== 202) this.fail(`PATCH chunk ${repo}`, patched);
          location = new URL(patched.headers.location as string, location).toString();
        }
        reply = await send(location, "PUT", this.withDigest(location, digest));
        break;
      }
      case "streamed": {
        // As podman does: one PATCH, Transfer-Encoding: chunked, no length up front.
        let location = await this.startUpload(repo);
        const patched = await send(location, "PATCH", location, { headers: octets, body: streamOf(bytes) });
        if (patched.status !== 202) this.fail(`streamed PATCH ${repo}`, patched);
        location = new URL(patched.headers.location as string, location).toString();
        reply = await send(location, "PUT", this.withDigest(location, digest));
        break;
      }
    }
    if (reply.status !== 201) this.fail(`commit blob ${digest} (${style}) in ${repo}`, reply);
    if (reply.headers["docker-content-digest"] !== digest) this.fail(`commit blob ${digest}: wrong Docker-Content-Digest`, reply);
    this.ledger.blobs.set(`${repo}@${digest}`, { repo, digest, size: bytes.length });
    return digest;
  }

  async putManifest(repo: string, reference: string, bytes: Uint8Array): Promise<string> {
    const digest = sha256(bytes);
    const reply = await send(this.phase.url, "PUT", `/v2/${repo}/manifests/${reference}`, { headers: { "content-type": OCI_MANIFEST }, body: bytes });
    if (reply.status !== 201) this.fail(`PUT manifest ${repo}:${reference}`, reply);
    if (reply.headers["docker-content-digest"] !== digest) this.fail(`PUT manifest ${repo}:${reference}: wrong Docker-Content-Digest`, reply);
    this.ledger.manifests.set(`${repo}@${digest}`, { repo, digest, bytes });
    this.phase.manifestsAcked++;
    return digest;
  }

  /** One image: a layer shared by every image (concurrent commits of one digest), 1–2 own layers, a config. */
  async pushImage(repo: string, name: string, base: Uint8Array, n: number): Promise<void> {
    const style = (i: number) => STYLES[(n + i) % STYLES.length]!;
    const layers = [base, ...Array.from({ length: 1 + (n % 2) }, () => randomBytes(randomInt(200, 40_000)))];
    // Now and then a layer large enough to be caught between write, fsync and rename.
    if (n % 4 === 3) layers.push(randomBytes(randomInt(1, 3) * MiB));
    const layerDescriptors = [];
    for (const [i, layer] of layers.entries()) {
      layerDescriptors.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: await this.pushBlob(repo, layer, style(i)), size: layer.length });
    }
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: { Labels: { name, nonce: randomBytes(8).toString("hex") } } }),
    );
    const configDigest = await this.pushBlob(repo, config, style(layers.length));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
        layers: layerDescriptors,
      }),
    );
    const digest = sha256(manifest);

    // A tag pushed once.
    await this.putManifest(repo, name, manifest);
    this.ledger.onceTags.set(`${repo}:${name}`, { repo, tag: name, digest });

    // A tag this writer moves to each new image.
    const movingKey = `${repo}:${name.replace(/-i\d+$/, "")}-latest`;
    const moving = this.ledger.movingTags.get(movingKey) ?? { repo, tag: movingKey.slice(repo.length + 1) };
    this.ledger.movingTags.set(movingKey, moving);
    moving.inFlight = digest;
    await this.putManifest(repo, moving.tag, manifest);
    moving.acked = digest;
    moving.inFlight = undefined;

    // A tag every writer of this repository moves at once.
    const sharedKey = `${repo}:shared`;
    const shared = this.ledger.sharedTags.get(sharedKey) ?? { repo, tag: "shared", sent: new Set<string>(), acked: false };
    this.ledger.sharedTags.set(sharedKey, shared);
    shared.sent.add(digest);
    await this.putManifest(repo, "shared", manifest);
    shared.acked = true;
  }
}

// ---------------------------------------------------------------------------------------------------
// Checks

/** Every file under blobs/ must sit at <tenant>/<algorithm>/<2 hex>/<hex> and hash to that name. */
async function badBlobFiles(dataDir: string): Promise<string[]> {
  const root = join(dataDir, "blobs");
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const bad: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const full = join(entry.parentPath, entry.name);
    const parts = relative(root, full).split(sep);
    const [tenant, algorithm, prefix, hex] = parts;
    if (parts.length !== 4 || !tenant || (algorithm !== "sha256" && algorithm !== "sha512") || !hex || prefix !== hex.slice(0, 2)) {
      bad.push(`${relative(dataDir, full)}: not a blob path`);
      continue;
    }
    const actual = createHash(algorithm).update(await readFile(full)).digest("hex");
    if (actual !== hex) bad.push(`${relative(dataDir, full)}: content hashes to ${algorithm}:${actual}`);
  }
  return bad;
}

async function countBlobFiles(dataDir: string): Promise<number> {
  try {
    return (await readdir(join(dataDir, "blobs"), { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory()).length;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
}

/** Everything acknowledged is served intact; returns the problems found. Settles the tags it checked. */
async function verifyLedger(url: string, ledger: Ledger): Promise<string[]> {
  const problems: string[] = [];
  await mapLimit([...ledger.blobs.values()], 16, async ({ repo, digest, size }) => {
    const reply = await send(url, "GET", `/v2/${repo}/blobs/${digest}`);
    if (reply.status !== 200) problems.push(`blob ${repo}@${digest}: GET answered ${reply.status}`);
    else if (reply.body.length !== size || sha256(reply.body) !== digest)
      problems.push(`blob ${repo}@${digest}: served ${reply.body.length} bytes hashing to ${sha256(reply.body)}, expected ${size}`);
  });
  await mapLimit([...ledger.manifests.values()], 16, async ({ repo, digest, bytes }) => {
    const reply = await send(url, "GET", `/v2/${repo}/manifests/${digest}`, { headers: { accept: OCI_MANIFEST } });
    if (reply.status !== 200) problems.push(`manifest ${repo}@${digest}: GET answered ${reply.status}`);
    else if (!reply.body.equals(bytes)) problems.push(`manifest ${repo}@${digest}: served different bytes`);
  });
  const resolve = async (repo: string, tag: string): Promise<string | undefined> => {
    const reply = await send(url, "GET", `/v2/${repo}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) {
      problems.push(`tag ${repo}:${tag}: GET answered ${reply.status}`);
      return undefined;
    }
    const digest = sha256(reply.body);
    if (reply.headers["docker-content-digest"] !== digest) problems.push(`tag ${repo}:${tag}: Docker-Content-Digest ${reply.headers["docker-content-digest"]} for a body hashing to ${digest}`);
    return digest;
  };
  await mapLimit([...ledger.onceTags.values()], 16, async ({ repo, tag, digest }) => {
    const actual = await resolve(repo, tag);
    if (actual !== digest) problems.push(`tag ${repo}:${tag}: resolves to ${actual}, acknowledged as ${digest}`);
  });
  await mapLimit([...ledger.movingTags.values()], 16, async (moving) => {
    const actual = await resolve(moving.repo, moving.tag);
    const allowed = [moving.acked, moving.inFlight].filter((d): d is string => d !== undefined);
    if (moving.acked === undefined && actual === undefined) return;
    if (actual === undefined || !allowed.includes(actual))
      problems.push(`tag ${moving.repo}:${moving.tag}: resolves to ${actual}, last acknowledged ${moving.acked}, in flight ${moving.inFlight}`);
    // Whatever it is now is what the next round starts from.
    if (actual !== undefined) {
      moving.acked = actual;
      moving.inFlight = undefined;
    }
  });
  await mapLimit([...ledger.sharedTags.values()], 16, async (shared) => {
    const actual = await resolve(shared.repo, shared.tag);
    if (actual === undefined ? shared.acked : !shared.sent.has(actual))
      problems.push(`tag ${shared.repo}:${shared.tag}: resolves to ${actual}, never sent there`);
    if (actual !== undefined) shared.sent = new Set([actual]);
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------------

describe("SIGKILL during pushes", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  afterAll(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  test("everything acknowledged survives three kills; no blob file is ever partial", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "stratus-crash-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const ledger = newLedger();
    const ROUNDS = 3;
    const WORKERS = 8;
    const REPOS = ["crash/app0", "crash/app1", "crash/app2", "team/web/api"];
    const base = randomBytes(4096);

    // skopeo, when installed, pushes whole images alongside (POST, PATCH with Content-Length, PUT).
    const useSkopeo = missingTools(["skopeo"]).length === 0;
    let tools: ToolEnv | undefined;
    const layouts: { dir: string; image: BuiltImage; config: Buffer }[] = [];
    if (useSkopeo) {
      tools = await isolatedToolEnv("stratus-crash-skopeo-");
      const dir = tools.dir;
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      for (let i = 0; i < ROUNDS * 6; i++) {
        const layout = join(tools.dir, `layout${i}`);
        const image = await buildImageLayout(layout, "v1", [randomInt(500, 20_000), randomInt(500, 60_000)]);
        const manifest = JSON.parse(Buffer.from(image.manifest).toString("utf8")) as { config: { digest: string } };
        layouts.push({ dir: layout, image, config: await readFile(join(layout, "blobs", "sha256", manifest.config.digest.slice(7))) });
      }
    }

    let server = await ServerProcess.start(dataDir);
    cleanup.push(() => server.kill());
    const killDelays: number[] = [];
    let imagesPushed = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const phase: Phase = { url: server.url, killed: false, manifestsAcked: 0 };
      const pusher = new Pusher(phase, ledger);
      const workers = Array.from({ length: WORKERS }, async (_, w) => {
        const repo = REPOS[w % REPOS.length]!;
        for (let n = 0; !phase.killed; n++) {
          try {
            await pusher.pushImage(repo, `r${round}-w${w}-i${n}`, base, n + w);
            imagesPushed++;
          } catch (e) {
            if (!phase.killed && !ledger.unexpected.some((u) => String(e).includes(u))) ledger.unexpected.push(`worker ${w}: ${String(e)}`);
            return;
          }
        }
      });
      const skopeoWorker = (async () => {
        if (!useSkopeo || !tools) return;
        const env = tools.env;
        for (let i = round * 6; i < (round + 1) * 6 && !phase.killed; i++) {
          const { dir, image, config } = layouts[i]!;
          const repo = "crash/skopeo";
          const tag = `r${round}-s${i}`;
          try {
            await run("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", `oci:${dir}:v1`, `docker://${new URL(server.url).host}/${repo}:${tag}`], env);
          } catch (e) {
            if (!phase.killed) ledger.unexpected.push(`skopeo: ${String(e)}`);
            return;
          }
          // Exit 0 means the manifest PUT was answered 201, after every blob's.
          for (const layer of image.layerDigests) {
            const size = (await readFile(join(dir, "blobs", "sha256", layer.slice(7)))).length;
            ledger.blobs.set(`${repo}@${layer}`, { repo, digest: layer, size });
          }
          ledger.blobs.set(`${repo}@${sha256(config)}`, { repo, digest: sha256(config), size: config.length });
          ledger.manifests.set(`${repo}@${image.manifestDigest}`, { repo, digest: image.manifestDigest, bytes: image.manifest });
          ledger.onceTags.set(`${repo}:${tag}`, { repo, tag, digest: image.manifestDigest });
        }
      })();

      // Let pushes get going, then kill at a random moment.
      const started = Date.now();
      while (phase.manifestsAcked < 6 && Date.now() - started < 15_000 && ledger.unexpected.length === 0) await sleep(10);
      const delay = randomInt(0, 700);
      killDelays.push(delay);
      await sleep(delay);
      phase.killed = true;
      await server.kill();
      await Promise.all([...workers, skopeoWorker]);
      expect(ledger.unexpected, `answers that are wrong even without a crash (round ${round})`).toEqual([]);

      // The state the crash left, before the restarted server touches anything.
      expect(await badBlobFiles(dataDir), `blob files after kill ${round + 1} (${delay} ms in)`).toEqual([]);

      server = await ServerProcess.start(dataDir);
      const problems = await verifyLedger(server.url, ledger);
      expect(problems, `after kill ${round + 1} of ${ROUNDS}, ${delay} ms after the first acks; server log:\n${server.log}`).toEqual([]);
    }

    expect(await badBlobFiles(dataDir)).toEqual([]);
    // The rounds did real work.
    expect(ledger.manifests.size).toBeGreaterThanOrEqual(ROUNDS * 2);
    expect(imagesPushed).toBeGreaterThan(0);
    console.info(
      `crash test: ${ROUNDS} kills at +${killDelays.join("/")} ms; ${ledger.blobs.size} blobs, ${ledger.manifests.size} manifests, ` +
        `${ledger.onceTags.size + ledger.movingTags.size + ledger.sharedTags.size} tags acknowledged and verified${useSkopeo ? " (skopeo included)" : ""}`,
    );
  }, 60_000);

  test("a 64 MiB streamed PATCH killed mid-way leaves nothing under blobs/, and the upload resumes", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "stratus-crash-big-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const content = randomBytes(64 * MiB);
    const digest = sha256(content);
    const repo = "crash/big";

    let server = await ServerProcess.start(dataDir);
    cleanup.push(() => server.kill());
    const started = await send(server.url, "POST", `/v2/${repo}/blobs/uploads/`);
    expect(started.status).toBe(202);
    const location = new URL(started.headers.location as string, server.url).toString();

    // Stream 1 MiB pieces, chunked, and kill the server once a random share of them is written.
    const killAfter = randomInt(8, 48) * MiB;
    let written = 0;
    const current = server;
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let offset = 0; offset < content.length; offset += MiB) {
        if (written >= killAfter) {
          await current.kill();
          // Keep the request open until the socket notices.
          await sleep(200);
        }
        written += MiB;
        yield content.subarray(offset, offset + MiB);
      }
    }
    const outcome = await send(location, "PATCH", location, { headers: { "content-type": "application/octet-stream" }, body: body() }).then(
      (reply) => `answered ${reply.status}`,
      (e: unknown) => `failed: ${String(e)}`,
    );
    await current.kill();
    expect(outcome, `the PATCH must not complete (killed after ${killAfter / MiB} MiB)`).toMatch(/^failed/);

    expect(await countBlobFiles(dataDir)).toBe(0);
    // The kill did land mid-upload: staged bytes exist (storage-local keeps them at uploads/<id>).
    const uploadId = new URL(location).pathname.split("/").pop()!;
    expect((await stat(join(dataDir, "uploads", uploadId))).size).toBeGreaterThan(0);

    // After a restart: no blob, the session still there, and resuming it commits the right bytes.
    server = await ServerProcess.start(dataDir);
    expect((await send(server.url, "HEAD", `/v2/${repo}/blobs/${digest}`)).status).toBe(404);
    const uploadPath = new URL(location).pathname + new URL(location).search;
    const status = await send(server.url, "GET", uploadPath);
    expect(status.status, status.body.toString("utf8")).toBe(204);
    // The PATCH was never answered, so none of it counts (the staged bytes are truncated on resume).
    expect(status.headers.range).toBe("0-0");
    const patched = await send(server.url, "PATCH", uploadPath, { headers: { "content-type": "application/octet-stream" }, body: streamOf(content, 16) });
    expect(patched.status, patched.body.toString("utf8")).toBe(202);
    expect(patched.headers.range).toBe(`0-${content.length - 1}`);
    const next = new URL(patched.headers.location as string, server.url);
    next.searchParams.set("digest", digest);
    const committed = await send(server.url, "PUT", next.pathname + next.search);
    expect(committed.status, committed.body.toString("utf8")).toBe(201);
    const got = await send(server.url, "GET", `/v2/${repo}/blobs/${digest}`);
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(content.length);
    expect(sha256(got.body)).toBe(digest);
    expect(await badBlobFiles(dataDir)).toEqual([]);
    expect(await countBlobFiles(dataDir)).toBe(1);
  }, 60_000);
});
