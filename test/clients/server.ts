import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "../../packages/server/src/index.ts";

/** One request as the server saw it, with the status it answered. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  status?: number;
}

export interface RecordingServer {
  running: RunningServer;
  /** host:port, as image references spell it. */
  host: string;
  dataDir: string;
  requests: SeenRequest[];
  stop(): Promise<void>;
}

/** Every request the running server sees from now on, with the status it answered. */
export function recordRequests(running: RunningServer): SeenRequest[] {
  const requests: SeenRequest[] = [];
  running.server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://registry");
    const seen: SeenRequest = { method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers };
    requests.push(seen);
    res.once("finish", () => (seen.status = res.statusCode));
  });
  return requests;
}

/** The registry in-process on a random port and a fresh data dir, recording every request; `options` add to the defaults. */
export async function startRecordingServer(options: Partial<ServerOptionsInput> = {}, prefix = "stratus-clients-"): Promise<RecordingServer> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const running = await startServer(serverOptionsSchema.parse({ port: 0, dataDir, logLevel: "silent", ...options }));
  const requests = recordRequests(running);
  return {
    running,
    host: `127.0.0.1:${running.port}`,
    dataDir,
    requests,
    async stop() {
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** The digests of every blob file of an OCI layout, checked against their file names. */
export async function layoutBlobs(dir: string): Promise<Map<string, { size: number; contentDigest: string }>> {
  const blobs = new Map<string, { size: number; contentDigest: string }>();
  for (const name of await readdir(join(dir, "blobs", "sha256"))) {
    const bytes = await readFile(join(dir, "blobs", "sha256", name));
    blobs.set(`sha256:${name}`, { size: bytes.length, contentDigest: sha256(bytes) });
  }
  return blobs;
}

/** The descriptor index.json of a layout lists for `tag`. */
export async function layoutRef(dir: string, tag: string): Promise<{ mediaType: string; digest: string; size: number }> {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
    manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
  };
  const found = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!found) throw new Error(`tag ${tag} not in ${dir}/index.json: ${JSON.stringify(index)}`);
  return found;
}
