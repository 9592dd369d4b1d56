import { spawnSync } from "node:child_process";
import { mkdir, rm, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleLambda } from "./lambda-bundle.ts";

// `npm run build`: bundles each Lambda function with esbuild (DESIGN.md: "Cold start kept small") and
// prints its size and how long a fresh Node process takes to import it (the module-loading part of a
// cold start; a Lambda's init adds the runtime's own start-up).
// Bundling options: scripts/lambda-bundle.ts.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const IMPORT_RUNS = 5;

interface LambdaFunction {
  name: string;
  entry: string;
}

const FUNCTIONS: LambdaFunction[] = [{ name: "registry", entry: "packages/lambda/src/index.ts" }];

/** Milliseconds to import the bundle in a fresh Node process (no env: nothing but module loading runs). */
function importTime(file: string): number {
  const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
  if (result.status !== 0) throw new Error(`importing ${file} failed:\n${result.stderr}`);
  return Number(result.stdout);
}

async function bundle(fn: LambdaFunction): Promise<string> {
  const outdir = join(ROOT, "dist/lambda", fn.name);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const outfile = join(outdir, "index.mjs");
  await bundleLambda(join(ROOT, fn.entry), outfile);
  return outfile;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const fn of FUNCTIONS) {
  const file = await bundle(fn);
  const size = (await stat(file)).size;
  const times = Array.from({ length: IMPORT_RUNS }, () => importTime(file));
  console.log(
    `${fn.name}: ${relative(ROOT, file)} ${(size / 1024).toFixed(1)} KiB, import ${median(times).toFixed(0)} ms (median of ${IMPORT_RUNS} fresh processes: ${times.map((t) => t.toFixed(0)).join(", ")} ms)`,
  );
}
