import { Agent, request } from "node:http";
import { readCpuMs } from "./proc.ts";

// Closed-loop load generator: `concurrency` workers over as many keep-alive connections, each sending
// the next request as soon as the previous answer is read. It runs in this process, so it competes
// for the same CPUs as the server under test.
//
// node:http rather than undici: undici closes the connection after every HEAD (its client-h1 sets
// kReset for HEAD, and llhttp refuses keep-alive after HEAD unless the server sends
// `Connection: keep-alive`, which Go's server does not), so a HEAD benchmark with it measures TCP
// connection set-up. node:http keeps HEAD connections alive; `newConnections` checks it.

export interface LoadSpec {
  name: string;
  method: "GET" | "HEAD";
  path: string;
  headers?: Record<string, string>;
  /** When set, each GET body must have this many bytes. */
  expectBytes?: number;
}

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of the server process during the measured window. */
  serverCpuMs: number;
  serverCpuUsPerRequest: number;
  /** CPU time of the load generator (this process) per request, for comparison. */
  clientCpuUsPerRequest: number;
  /** Requests in the measured window that did not reuse a connection: 0 when keep-alive holds. */
  newConnections: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function once(agent: Agent, origin: URL, spec: LoadSpec): Promise<{ status: number; bytes: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: origin.hostname, port: origin.port, method: spec.method, path: spec.path, headers: spec.headers ?? {} },
      (res) => {
        let bytes = 0;
        res.on("data", (d: Buffer) => (bytes += d.length));
        res.once("end", () => resolve({ status: res.statusCode ?? 0, bytes, reused: req.reusedSocket }));
        res.once("error", reject);
      },
    );
    req.once("error", reject);
    req.end();
  });
}

export async function runLoad(
  origin: string,
  serverPid: number,
  spec: LoadSpec,
  { concurrency = 32, warmupMs = 1_000, durationMs = 5_000 } = {},
): Promise<LoadResult> {
  const url = new URL(origin);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, keepAliveMsecs: 60_000 });
  let measuring = false;
  let stopping = false;
  let requests = 0;
  let errors = 0;
  let newConnections = 0;
  let firstError: string | undefined;
  let latencies = new Float64Array(1 << 18);

  const worker = async () => {
    while (!stopping) {
      const t0 = performance.now();
      try {
        const r = await once(agent, url, spec);
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
        if (spec.expectBytes !== undefined && r.bytes !== spec.expectBytes) throw new Error(`body of ${r.bytes} bytes, expected ${spec.expectBytes}`);
        if (measuring) {
          if (requests === latencies.length) {
            const bigger = new Float64Array(latencies.length * 2);
            bigger.set(latencies);
            latencies = bigger;
          }
          latencies[requests++] = performance.now() - t0;
          if (!r.reused) newConnections++;
        }
      } catch (e) {
        if (measuring) errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
        if (errors > 1000) stopping = true;
      }
    }
  };

  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  const cpu0 = readCpuMs(serverPid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const serverCpuMs = readCpuMs(serverPid) - cpu0;
  const client = process.cpuUsage(client0);
  stopping = true;
  await Promise.all(workers);
  agent.destroy();

  const sorted = latencies.slice(0, requests).sort();
  return {
    name: spec.name,
    requests,
    errors,
    ...(firstError ? { firstError } : {}),
    seconds,
    rps: requests / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    serverCpuMs,
    serverCpuUsPerRequest: requests ? (serverCpuMs * 1000) / requests : NaN,
    clientCpuUsPerRequest: requests ? (client.user + client.system) / requests : NaN,
    newConnections,
  };
}
