import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import { LAMBDA_BUILD } from "../stacks/src/lambda-bundling.ts";

// The registry function's bundle exactly as `cdk deploy` builds it: CDK's own NodejsFunction bundling
// (the local esbuild) with the stack's options (stacks/src/lambda-bundling.ts), in a throwaway
// one-function app. Used by scripts/build-lambda.ts (`npm run build`) and by the test that runs the
// bundle behind the API Gateway emulation, so neither can measure or test something else than what
// is deployed.

/** Bundles `entry` as CDK does; writes `outfile` (ESM) and its .map beside it. */
export async function bundleLambda(entry: string, outfile: string): Promise<void> {
  const outdir = await mkdtemp(join(tmpdir(), "stratus-lambda-asset-"));
  try {
    const app = new App({ outdir });
    // Bundling runs while the function is constructed (asset staging); no synth needed.
    new nodejs.NodejsFunction(new Stack(app, "Bundle"), "Registry", { ...LAMBDA_BUILD, entry });
    const assets = (await readdir(outdir)).filter((name) => name.startsWith("asset."));
    if (assets.length !== 1) throw new Error(`expected one bundled asset in ${outdir}, found ${assets.join(", ") || "none"}`);
    await mkdir(dirname(outfile), { recursive: true });
    await copyFile(join(outdir, assets[0]!, "index.mjs"), outfile);
    await copyFile(join(outdir, assets[0]!, "index.mjs.map"), `${outfile}.map`);
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}
