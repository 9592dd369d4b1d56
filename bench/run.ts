import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildImageLayout } from "../test/support/oci-layout.ts";
import { cleanupNow, installExitHandlers, makeTempDir, removeDir } from "./cleanup.ts";
import { makeStreamedBlob, MANIFEST_ACCEPT, pushStreamedBlob, seedImage, type BigPushResult } from "./client.ts";
import { runLoad, type LoadResult, type LoadSpec } from "./load.ts";
import { describeMachine, renderTable, ratio, type Row } from "./report.ts";
import { startRssSampler, type RssSample } from "./rss.ts";
import { DISTRIBUTION_BIN, distributionAvailable, distributionVersion, REPO_ROOT, startRegistry, type RegistryKind, type RunningRegistry } from "./servers.ts";
import { pushThenPull, SKOPEO_BIN, skopeoAvailable, skopeoVersion, type PushPullTimes } from "./skopeo.ts";

// `npm run bench`: Stratus (local server, embedded storage) against the CNCF distribution registry
// (Debian's docker-registry), both on loopback, in the same run. Not part of the tests.

const IMAGE_LAYERS_MIB = [80, 60, 40, 15, 5];
const SKOPEO_RUNS = 3;
const LOAD = { concurrency: 32, warmupMs: 1_000, durationMs: 5_000 };
const BIG_BLOB_BYTES = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

const PEER_NAME = "distribution";
const log = (msg: string) => process.stdout.write(`${msg}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface PerRegistry<T> {
  stratus?: T;
  distribution?: T;
}
type Errors = string[];

async function withRegistry<T>(kind: RegistryKind, fn: (reg: RunningRegistry) => Promise<T>): Promise<T> {
  const reg = await startRegistry(kind);
  try {
    return await fn(reg);
  } finally {
    await reg.stop();
  }
}

async function skopeoScenario(kinds: RegistryKind[], errors: Errors) {
  const runs: PerRegistry<PushPullTimes[]> = {};
  const imageDir = makeTempDir("image");
  try {
    const layout = join(imageDir, "layout");
    const t0 = Date.now();
    await buildImageLayout(layout, "v1", IMAGE_LAYERS_MIB.map((m) => m * MiB));
    log(`  image: layers ${IMAGE_LAYERS_MIB.join("+")} MiB of random data, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (let i = 0; i < SKOPEO_RUNS; i++) {
      // Alternate the order, so neither registry always runs on the warmer page cache.
      const order = i % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const work = makeTempDir("pull");
        try {
          // A fresh registry (new data dir, new port) each run: otherwise the second push finds its blobs already there.
          const t = await withRegistry(kind, (reg) => pushThenPull(reg.host, layout, "v1", work));
          (runs[kind] ??= []).push(t);
          log(`  run ${i + 1} ${kind.padEnd(12)} push ${t.pushSeconds.toFixed(2)} s, pull ${t.pullSeconds.toFixed(2)} s`);
        } catch (e) {
          errors.push(`skopeo ${kind}: ${errorText(e)}`);
          log(`  run ${i + 1} ${kind}: FAILED: ${errorText(e)}`);
        } finally {
          removeDir(work);
        }
      }
    }
  } finally {
    removeDir(imageDir);
  }
  return runs;
}

async function loadScenario(kinds: RegistryKind[], errors: Errors) {
  const results: PerRegistry<LoadResult[]> = {};
  for (const kind of kinds) {
    try {
      await withRegistry(kind, async (reg) => {
        const img = await seedImage(reg.origin);
        const specs: LoadSpec[] = [
          { name: "manifest HEAD", method: "HEAD", path: `/v2/${img.repo}/manifests/${img.tag}`, headers: { accept: MANIFEST_ACCEPT } },
          { name: "manifest GET", method: "GET", path: `/v2/${img.repo}/manifests/${img.tag}`, headers: { accept: MANIFEST_ACCEPT }, expectBytes: img.manifestSize },
          { name: "blob HEAD", method: "HEAD", path: `/v2/${img.repo}/blobs/${img.layerDigest}` },
        ];
        for (const spec of specs) {
          const r = await runLoad(reg.origin, reg.pid, spec, LOAD);
          (results[kind] ??= []).push(r);
          log(
            `  ${kind.padEnd(12)} ${spec.name.padEnd(13)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  ` +
              `server CPU ${r.serverCpuUsPerRequest.toFixed(0)} us/req` +
              (r.newConnections ? `  (${r.newConnections} new connections: keep-alive broken?)` : "") +
              (r.errors ? `  ERRORS ${r.errors}: ${r.firstError}` : ""),
          );
          if (r.errors) errors.push(`${spec.name} ${kind}: ${r.errors} errors, first: ${r.firstError}`);
        }
      });
    } catch (e) {
      errors.push(`load ${kind}: ${errorText(e)}`);
      log(`  ${kind}: FAILED: ${errorText(e)}`);
    }
  }
  return results;
}

async function bigPushScenario(kinds: RegistryKind[], errors: Errors) {
  const results: PerRegistry<BigPushResult & { rss: RssSample }> = {};
  const t0 = Date.now();
  const blob = makeStreamedBlob(BIG_BLOB_BYTES);
  log(`  blob: 1 GiB (a 1 MiB random chunk repeated), digest computed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const kind of kinds) {
    try {
      await withRegistry(kind, async (reg) => {
        await new Promise((r) => setTimeout(r, 500)); // let start-up settle before the baseline
        const sampler = startRssSampler(reg.pid, 50);
        const push = await pushStreamedBlob(reg.origin, "bench/big", blob).finally(() => sampler.stop());
        const rss = sampler.stop();
        results[kind] = { ...push, rss };
        log(
          `  ${kind.padEnd(12)} ${push.seconds.toFixed(2)} s, ${push.mibPerSecond.toFixed(0)} MiB/s, RSS before ${(rss.baselineKiB / 1024).toFixed(0)} MiB, ` +
            `peak sampled ${(rss.peakSampledKiB / 1024).toFixed(0)} MiB, VmHWM ${(rss.vmHwmKiB / 1024).toFixed(0)} MiB (${rss.samples} samples)`,
        );
      });
    } catch (e) {
      errors.push(`1 GiB push ${kind}: ${errorText(e)}`);
      log(`  ${kind}: FAILED: ${errorText(e)}`);
    }
  }
  return results;
}

function buildRows(
  skopeo: PerRegistry<PushPullTimes[]> | null,
  load: PerRegistry<LoadResult[]>,
  big: PerRegistry<BigPushResult & { rss: RssSample }>,
): Row[] {
  const rows: Row[] = [];
  const med = (runs: PushPullTimes[] | undefined, key: keyof PushPullTimes) => (runs?.length ? median(runs.map((r) => r[key])) : null);
  if (skopeo) {
    rows.push({ metric: "skopeo push 200 MiB image (median of 3)", unit: "s", better: "lower", stratus: med(skopeo.stratus, "pushSeconds"), peer: med(skopeo.distribution, "pushSeconds") });
    rows.push({ metric: "skopeo pull 200 MiB image (median of 3)", unit: "s", better: "lower", stratus: med(skopeo.stratus, "pullSeconds"), peer: med(skopeo.distribution, "pullSeconds") });
  }
  const names = ["manifest HEAD", "manifest GET", "blob HEAD"];
  const pick = (kind: RegistryKind, name: string) => load[kind]?.find((r) => r.name === name);
  for (const name of names) {
    rows.push({ metric: `${name}, ${LOAD.concurrency} conns`, unit: "req/s", better: "higher", stratus: pick("stratus", name)?.rps ?? null, peer: pick("distribution", name)?.rps ?? null });
  }
  for (const name of names) {
    rows.push({ metric: `${name} p99 latency`, unit: "ms", better: "lower", stratus: pick("stratus", name)?.p99Ms ?? null, peer: pick("distribution", name)?.p99Ms ?? null });
  }
  for (const name of names) {
    rows.push({ metric: `${name} server CPU per request`, unit: "us", better: "lower", stratus: pick("stratus", name)?.serverCpuUsPerRequest ?? null, peer: pick("distribution", name)?.serverCpuUsPerRequest ?? null });
  }
  const mib = (kib: number | undefined) => (kib === undefined ? null : kib / 1024);
  rows.push({ metric: "1 GiB blob push: server RSS before", unit: "MiB", better: "lower", stratus: mib(big.stratus?.rss.baselineKiB), peer: mib(big.distribution?.rss.baselineKiB) });
  rows.push({ metric: "1 GiB blob push: server peak RSS", unit: "MiB", better: "lower", stratus: mib(big.stratus?.rss.peakSampledKiB), peer: mib(big.distribution?.rss.peakSampledKiB) });
  rows.push({ metric: "1 GiB blob push: throughput", unit: "MiB/s", better: "higher", stratus: big.stratus?.mibPerSecond ?? null, peer: big.distribution?.mibPerSecond ?? null });
  return rows;
}

async function main(): Promise<void> {
  installExitHandlers();
  const started = Date.now();
  const haveDistribution = distributionAvailable();
  const haveSkopeo = skopeoAvailable();
  const machine = describeMachine(distributionVersion(), skopeoVersion());
  const kinds: RegistryKind[] = haveDistribution ? ["stratus", "distribution"] : ["stratus"];
  const errors: Errors = [];

  log(`Stratus benchmark: ${machine.distro ?? machine.os} ${machine.kernel}, ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}`);
  log(haveDistribution ? `peer: ${machine.dockerRegistry}` : `peer: docker-registry NOT INSTALLED (${DISTRIBUTION_BIN} missing; apt-get install docker-registry): Stratus-only figures, no ratios`);
  log(haveSkopeo ? `skopeo: ${machine.skopeo}` : `skopeo NOT INSTALLED (${SKOPEO_BIN} missing; apt-get install skopeo): push/pull scenario skipped`);

  let skopeo: PerRegistry<PushPullTimes[]> | null = null;
  if (haveSkopeo) {
    log(`\n[1/3] skopeo push + pull of a ~${IMAGE_LAYERS_MIB.reduce((a, b) => a + b)} MiB image, ${SKOPEO_RUNS} runs each`);
    skopeo = await skopeoScenario(kinds, errors);
  } else {
    log("\n[1/3] skopeo push + pull: SKIPPED, skopeo is not installed");
  }
  log(`\n[2/3] request rate: ${LOAD.concurrency} keep-alive connections, ${LOAD.warmupMs / 1000} s warm-up + ${LOAD.durationMs / 1000} s per endpoint`);
  const load = await loadScenario(kinds, errors);
  log("\n[3/3] 1 GiB blob push (POST, one streamed PATCH, PUT ?digest=), server RSS polled every 50 ms");
  const big = await bigPushScenario(kinds, errors);

  const rows = buildRows(skopeo, load, big);
  const elapsed = (Date.now() - started) / 1000;
  log(`\nResults (Stratus/peer ratio: below 1 is better where lower is better, above 1 where higher is better)\n`);
  log(renderTable(rows, haveDistribution ? PEER_NAME : "(peer absent)"));
  log("");
  log(
    haveDistribution
      ? "Notes: both servers on 127.0.0.1, same machine, same run; each scenario starts fresh servers on fresh data dirs."
      : "Notes: Stratus on 127.0.0.1; each scenario starts a fresh server on a fresh data dir.",
  );
  log(`  The load generator (node:http, in this Node process) shares the ${machine.cpus} CPUs with the server under test, so req/s`);
  log(`  is bounded by both; "server CPU per request" (from /proc/<pid>/stat) is the server's own cost.`);
  log(`  RSS is of the server process itself (node for Stratus, docker-registry for the peer); "peak" is the`);
  log(`  highest VmRSS seen while the 1 GiB push ran.`);
  if (!haveDistribution) log("  docker-registry was not installed: no peer figures.");
  if (!haveSkopeo) log("  skopeo was not installed: push/pull scenario skipped.");
  if (errors.length) log(`\nERRORS:\n${errors.map((e) => `  - ${e}`).join("\n")}`);
  log(`\nTotal time ${elapsed.toFixed(0)} s.`);

  const outDir = join(REPO_ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, "latest.json");
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        settings: { imageLayersMiB: IMAGE_LAYERS_MIB, skopeoRuns: SKOPEO_RUNS, load: LOAD, bigBlobBytes: BIG_BLOB_BYTES, rssPollMs: 50 },
        table: rows.map((r) => ({ ...r, ratio: ratio(r) })),
        raw: { skopeo, load, bigPush: big },
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
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanupNow);
