import { dirname, join } from "node:path";
import { build, type Plugin } from "esbuild";

// How a Lambda function is bundled (esbuild): used by scripts/build-lambda.ts (`npm run build`) and by
// the test that runs the bundle itself behind the API Gateway emulation.
//
// Everything is bundled, the AWS SDK included: the SDK version in the nodejs22.x runtime is not pinned
// and changes under a deployed function; only the modular v3 clients the code imports end up inside.
// ESM output needs a `require` for the few CommonJS dependencies esbuild inlines (they call
// require("node:…")): the banner provides one.

/**
 * zod's `z` re-exports every error-message locale as `z.locales` (about 250 KiB minified, a quarter of
 * the bundle); being a namespace, esbuild cannot drop them. Nothing here uses another language: keep
 * English only (zod configures it by importing locales/en.js directly, which stays).
 */
const zodEnglishOnly: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), args.path), namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(join(dirname(args.path), "en.js"))};`,
      resolveDir: dirname(args.path),
    }));
  },
};

/** Bundles one function's entry (absolute path) into `outfile` (ESM, with its .map beside it). */
export async function bundleLambda(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    minify: true,
    sourcemap: "external",
    // Prefer the ESM builds of dependencies: esbuild tree-shakes those, not CommonJS.
    mainFields: ["module", "main"],
    banner: { js: "import{createRequire as __stratusCreateRequire}from'node:module';const require=__stratusCreateRequire(import.meta.url);" },
    legalComments: "none",
    plugins: [zodEnglishOnly],
    logLevel: "warning",
  });
}

