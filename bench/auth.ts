import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupNow, installExitHandlers } from "./cleanup.ts";
import { MANIFEST_ACCEPT, seedImage, type SeededImage } from "./client.ts";
import { runLoad, type LoadResult, type LoadSpec } from "./load.ts";
import { basicAuth, createTenantAndKey, fetchToken, startMultiTenantStratus, tokenPath, type MultiTenantRegistry } from "./multi-tenant.ts";
import { describeMachine, renderTable, ratio, type Row } from "./report.ts";
import { REPO_ROOT, startStratus, type RunningRegistry } from "./servers.ts";

// `npm run bench:auth`: what multi-tenant auth costs per request. Open single-tenant Stratus and
// multi-tenant Stratus run side by side in the same run, hold the same small image, and answer the
// same three reads: open, with a Bearer token (fetched once from /token and reused, as clients do;
// verified once per process, then cached), and with Basic API-key credentials on every request
// (a tenant-store read each time). Token issuance itself (GET /token, Basic + scope) is measured too.

/** As bench/run.ts, so the figures are comparable with `npm run bench`. */
const LOAD = { concurrency: 32, warmupMs: 1_000, durationMs: 5_000 };
const TENANT = "bench";
const REPO = `${TENANT}/small`;
const PULL_SCOPE = `repository:${REPO}:pull`;

const log = (msg: string) => process.stdout.write(`${msg}\n`);
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

type Mode = "open" | "bearer" | "basic";
const MODE_LABEL: Record<Mode, string> = { open: "open", bearer: "Bearer token", basic: "Basic key" };

interface Endpoint {
  name: string;
  spec: (img: SeededImage) => Omit<LoadSpec, "name">;
}
const ENDPOINTS: Endpoint[] = [
  { name: "manifest HEAD", spec: (img) => ({ method: "HEAD", path: `/v2/${img.repo}/manifests/${img.tag}`, headers: { accept: MANIFEST_ACCEPT } }) },
  {
    name: "manifest GET",
    spec: (img) => ({ method: "GET", path: `/v2/${img.repo}/manifests/${img.tag}`, headers: { accept: MANIFEST_ACCEPT }, expectBytes: img.manifestSize }),
  },
  { name: "blob HEAD", spec: (img) => ({ method: "HEAD", path: `/v2/${img.repo}/blobs/${img.layerDigest}` }) },
];
const TOKEN_ISSUANCE = "GET /token (Basic + scope)";

interface Measured {
  endpoint: string;
  mode: Mode | "token";
  result: LoadResult;
}

function logResult(label: string, r: LoadResult): void {
  log(
    `  ${label.padEnd(40)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  ` +
      `server CPU ${r.serverCpuUsPerRequest.toFixed(0)} us/req` +
      (r.newConnections ? `  (${r.newConnections} new connections: keep-alive broken?)` : "") +
      (r.errors ? `  ERRORS ${r.errors}: ${r.firstError}` : ""),
  );
}

async function measure(open: RunningRegistry, multi: MultiTenantRegistry, errors: string[]): Promise<Measured[]> {
  const openImage = await seedImage(open.origin, REPO);
  const key = await createTenantAndKey(multi, TENANT, "push");
  const basic = basicAuth(TENANT, key);
  const multiImage = await seedImage(multi.origin, REPO, "v1", basic);
  log(`  seeded ${REPO}:v1 in both (multi-tenant: tenant ${TENANT}, a push key, pushed with Basic credentials)`);

  const measured: Measured[] = [];
  const run = async (endpoint: string, mode: Measured["mode"], reg: RunningRegistry, spec: LoadSpec) => {
    const r = await runLoad(reg.origin, reg.pid, spec, LOAD);
    measured.push({ endpoint, mode, result: r });
    logResult(spec.name, r);
    if (r.errors) errors.push(`${spec.name}: ${r.errors} errors, first: ${r.firstError}`);
  };

  // Per endpoint the three modes back to back, so a burst of someone else's work on the shared CPUs
  // lands on neighbouring measurements rather than on one mode only.
  for (const endpoint of ENDPOINTS) {
    // A fresh token per endpoint, reused for every request of it (as a client reuses one for a
    // whole pull); it outlives the 6 s of load by far (5 min by default).
    const bearer = `Bearer ${await fetchToken(multi.origin, basic, PULL_SCOPE)}`;
    const forMode: Record<Mode, { reg: RunningRegistry; spec: Omit<LoadSpec, "name"> }> = {
      open: { reg: open, spec: endpoint.spec(openImage) },
      bearer: { reg: multi, spec: withAuthorization(endpoint.spec(multiImage), bearer) },
      basic: { reg: multi, spec: withAuthorization(endpoint.spec(multiImage), basic) },
    };
    for (const mode of ["open", "bearer", "basic"] as const) {
      const { reg, spec } = forMode[mode];
      await run(endpoint.name, mode, reg, { ...spec, name: `${endpoint.name}, ${MODE_LABEL[mode]}` });
    }
  }
  await run(TOKEN_ISSUANCE, "token", multi, { name: TOKEN_ISSUANCE, method: "GET", path: tokenPath(PULL_SCOPE), headers: { authorization: basic } });
  return measured;
}

function withAuthorization(spec: Omit<LoadSpec, "name">, authorization: string): Omit<LoadSpec, "name"> {
  return { ...spec, headers: { ...spec.headers, authorization } };
}

/** "Stratus" is multi-tenant Stratus with the credentials named; the peer is open Stratus, same endpoint, same run. */
function buildRows(measured: Measured[]): Row[] {
  const pick = (endpoint: string, mode: Measured["mode"]) => measured.find((m) => m.endpoint === endpoint && m.mode === mode)?.result;
  const rows: Row[] = [];
  const metric = (field: "rps" | "serverCpuUsPerRequest", unit: string, better: Row["better"], suffix: string) => {
    for (const { name } of ENDPOINTS) {
      for (const mode of ["bearer", "basic"] as const) {
        rows.push({ metric: `${name}, ${MODE_LABEL[mode]}${suffix}`, unit, better, stratus: pick(name, mode)?.[field] ?? null, peer: pick(name, "open")?.[field] ?? null });
      }
    }
    // /token has no open counterpart: no ratio.
    rows.push({ metric: `${TOKEN_ISSUANCE}${suffix}`, unit, better, stratus: pick(TOKEN_ISSUANCE, "token")?.[field] ?? null, peer: null });
  };
  metric("rps", "req/s", "higher", `, ${LOAD.concurrency} conns`);
  metric("serverCpuUsPerRequest", "us", "lower", ", server CPU/req");
  return rows;
}

async function main(): Promise<void> {
  installExitHandlers();
  const started = Date.now();
  const machine = describeMachine(null, null);
  const errors: string[] = [];
  log(`Stratus auth benchmark: ${machine.distro ?? machine.os} ${machine.kernel}, ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}`);
  log(`${LOAD.concurrency} keep-alive connections, ${LOAD.warmupMs / 1000} s warm-up + ${LOAD.durationMs / 1000} s per line\n`);

  let measured: Measured[] = [];
  const open = await startStratus();
  try {
    const multi = await startMultiTenantStratus();
    try {
      measured = await measure(open, multi, errors);
    } finally {
      await multi.stop();
    }
  } catch (e) {
    errors.push(errorText(e));
    log(`  FAILED: ${errorText(e)}`);
  } finally {
    await open.stop();
  }

  const rows = buildRows(measured);
  const elapsed = (Date.now() - started) / 1000;
  log(`\nResults: "Stratus" = multi-tenant Stratus with the credentials named, "open" = single-tenant Stratus without auth,`);
  log(`same endpoint, same run. Stratus/peer is the cost of auth: below 1 on req/s, above 1 on CPU, means it costs.\n`);
  log(renderTable(rows, "open"));
  log("");
  log(`Notes: both servers on 127.0.0.1, each on a fresh data dir; the load generator (this process) shares the ${machine.cpus} CPUs`);
  log(`  with them, so req/s is bounded by both; "server CPU/req" (/proc/<pid>/stat) is the server's own cost.`);
  log(`  Bearer: one token per endpoint, reused on every request. Basic: the API key on every request.`);
  if (errors.length) log(`\nERRORS:\n${errors.map((e) => `  - ${e}`).join("\n")}`);
  log(`\nTotal time ${elapsed.toFixed(0)} s.`);

  const outDir = join(REPO_ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, "auth-latest.json");
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        settings: { load: LOAD, repository: REPO, tokenScope: PULL_SCOPE },
        table: rows.map((r) => ({ ...r, ratio: ratio(r) })),
        raw: measured,
        errors,
        elapsedSeconds: elapsed,
      },
      null,
      2,
    ) + "\n",
  );
  log(`Raw figures: ${out}`);
  if (errors.length) process.exitCode = 1;
}

main()
  .catch((e) => {
    process.stderr.write(`bench:auth failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanupNow);
