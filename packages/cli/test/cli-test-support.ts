import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { runCli } from "../src/cli.ts";
import type { CliIo } from "../src/io.ts";

// Runs `stratus …` in process, with its output captured, against a tiny HTTP server that records
// each request and answers from a script.

export interface Run {
  code: number;
  out: string;
  err: string;
}

export async function stratus(argv: string[], options: { env?: Record<string, string>; stdin?: string; home?: string } = {}): Promise<Run> {
  let out = "";
  let err = "";
  const io: CliIo = {
    env: options.env ?? {},
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    readStdin: async () => options.stdin ?? "",
    fetch: globalThis.fetch,
    homedir: () => options.home ?? "/nonexistent-home",
  };
  const code = await runCli(argv, io);
  return { code, out, err };
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  json?: unknown;
}

export type Reply = { status?: number; body?: unknown; headers?: Record<string, string> };

export interface RecordingServer {
  url: string;
  requests: Recorded[];
  /** Answers for the next requests, matched by "METHOD /path?query"; unmatched requests get 404. */
  replies: Map<string, Reply>;
  close(): Promise<void>;
}

export async function recordingServer(): Promise<RecordingServer> {
  const requests: Recorded[] = [];
  const replies = new Map<string, Reply>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const record: Recorded = { method: req.method!, url: req.url!, headers: req.headers, body };
      if (body) record.json = JSON.parse(body);
      requests.push(record);
      const reply = replies.get(`${req.method} ${req.url}`) ?? {
        status: 404,
        body: { errors: [{ code: "NOT_FOUND", message: `no reply scripted for ${req.method} ${req.url}`, detail: null }] },
      };
      const text = reply.body === undefined ? "" : JSON.stringify(reply.body);
      res.writeHead(reply.status ?? 200, { ...(text ? { "content-type": "application/json" } : {}), ...reply.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    replies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
