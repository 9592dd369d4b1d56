import { Pool } from "undici";
import { readCpuMs } from "./proc.ts";

// Closed-loop load generator: `concurrency` workers, each on its own keep-alive connection, sending
// the next request as soon as the previous answer is read. Runs in this process, so it competes for
// the same CPUs as the server under test.

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
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(
  origin: string,
  serverPid: number,
  spec: LoadSpec,
  { concurrency = 32, warmupMs = 1_000, durationMs = 5_000 } = {},
): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  let measuring = false;
  let stopping = false;
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let latencies = new Float64Array(1 << 18);

  const worker = async () => {
    while (!stopping) {
      const t0 = performance.now();
      try {
        const res = await pool.request({ origin, path: spec.path, method: spec.method, headers: spec.headers ?? {} });
        const body = Buffer.from(await res.body.arrayBuffer());
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} ${body.toString("utf8").slice(0, 200)}`);
        if (spec.expectBytes !== undefined && body.length !== spec.expectBytes) throw new Error(`body of ${body.length} bytes, expected ${spec.expectBytes}`);
        if (measuring) {
          if (requests === latencies.length) {
            const bigger = new Float64Array(latencies.length * 2);
            bigger.set(latencies);
            latencies = bigger;
          }
          latencies[requests++] = performance.now() - t0;
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
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const serverCpuMs = readCpuMs(serverPid) - cpu0;
  stopping = true;
  await Promise.all(workers);
  await pool.close();

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
  };
}
