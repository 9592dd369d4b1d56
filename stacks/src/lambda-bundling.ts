import { fileURLToPath } from "node:url";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";

// How the registry's Lambda code is built: the one definition the stack's functions
// (registry-api.ts) and `npm run build` / the bundle test (scripts/lambda-bundle.ts, which runs CDK's
// own NodejsFunction bundling with it) share, so what is measured and tested is what is deployed.

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const LAMBDA_ENTRY = `${repoRoot}packages/lambda/src/index.ts`;

export const LAMBDA_BUILD = {
  entry: LAMBDA_ENTRY,
  projectRoot: repoRoot,
  depsLockFilePath: `${repoRoot}package-lock.json`,
  runtime: lambda.Runtime.NODEJS_22_X,
  // Lambda's CPU share is cheapest on Graviton.
  architecture: lambda.Architecture.ARM_64,
  bundling: {
    // The local esbuild: no Docker on the operator's machine or CI (DESIGN.md "Deploy").
    forceDockerBundling: false,
    format: nodejs.OutputFormat.ESM,
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    target: "node22",
    // Some CommonJS dependencies call require(): give the ESM bundle one.
    banner: "import { createRequire as __stratusCreateRequire } from 'node:module'; const require = __stratusCreateRequire(import.meta.url);",
    // Everything is bundled, the AWS SDK included: the SDK in the nodejs22.x runtime is not pinned and
    // changes under a deployed function; the bundled one is what the tests ran against. Only the
    // modular v3 clients the code imports end up inside.
    externalModules: [],
    // With ESM output CDK passes --main-fields=module,main: the ESM builds, which esbuild tree-shakes.
    esbuildArgs: { "--legal-comments": "none" },
  },
} satisfies Partial<nodejs.NodejsFunctionProps>;
