import { spawnSync } from "node:child_process";
import { mkdir, readFile, rm } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { LAMBDA_ENTRY } from "../stacks/src/lambda-bundling.ts";
import { bundleLambda } from "./lambda-bundle.ts";
import { node22Binary } from "./node22.ts";

// `npm run build`: bundles the Lambda code exactly as `cdk deploy` does (CDK's NodejsFunction bundling
// with the stack's options: stacks/src/lambda-bundling.ts, scripts/lambda-bundle.ts) and prints its
// size (bytes, gzipped: roughly what the deployment package zip weighs) and how long a fresh Node 22
// process (the runtime's major) takes to import it: the module-loading part of a cold start; a
// Lambda's init adds the runtime's own start-up. Both functions (registry, sweep) deploy this bundle.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const IMPORT_RUNS = 7;

interface LambdaFunction {
  name: string;
  entry: string;
}

const FUNCTIONS: LambdaFunction[] = [{ name: "registry", entry: LAMBDA_ENTRY }];

/** Milliseconds to import the bundle in a fresh Node process (no env: nothing but module loading runs). */
function importTime(node: string, file: string): number {
  const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
  const result = spawnSync(node, ["--input-type=module", "-e", script], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
  if (result.status !== 0) throw new Error(`importing ${file} failed:\n${result.stderr}`);
  return Number(result.stdout);
}

async function bundle(fn: LambdaFunction): Promise<string> {
  const outdir = join(ROOT, "dist/lambda", fn.name);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const outfile = join(outdir, "index.mjs");
  await bundleLambda(fn.entry, outfile);
  return outfile;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

// Import times on the runtime's major; where no Node 22 is at hand, on this Node (and the line says which).
let node: string;
try {
  node = node22Binary();
} catch (e) {
  console.warn(`${(e as Error).message}\nMeasuring import time on this Node instead.`);
  node = process.execPath;
}
const nodeVersion = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
for (const fn of FUNCTIONS) {
  const file = await bundle(fn);
  const bytes = await readFile(file);
  const gzipped = gzipSync(bytes, { level: 9 }).byteLength;
  importTime(node, file); // warm the file cache: measure loading, not the disk
  const times = Array.from({ length: IMPORT_RUNS }, () => importTime(node, file));
  console.log(
    `${fn.name}: ${relative(ROOT, file)} ${bytes.byteLength} bytes (${(bytes.byteLength / 1024).toFixed(1)} KiB; gzip ${(gzipped / 1024).toFixed(1)} KiB), ` +
      `import ${median(times).toFixed(0)} ms on Node ${nodeVersion} (median of ${IMPORT_RUNS} fresh processes: ${times.map((t) => t.toFixed(0)).join(", ")} ms)`,
  );
}
