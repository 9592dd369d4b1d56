// The CDK app: `npm run synth` / `npm run deploy -- -c stage=prod` (cdk.json runs this file with tsx).
import { fileURLToPath } from "node:url";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { RegistryStack } from "../stacks/src/index.ts";
import { operatorSettings, stageSettings } from "./stages.ts";

const app = new App();
const stageName = String(app.node.tryGetContext("stage") ?? "dev");
// -c domainName=... -c certificateArn=... -c uploadImage=codebuild|local (or STRATUS_* variables): docs/deploy.md "Settings".
const operator = operatorSettings((key) => app.node.tryGetContext(key), process.env);
let selected: ReturnType<typeof stageSettings>;
try {
  selected = stageSettings(stageName, { ...operator, repoRoot: fileURLToPath(new URL("../", import.meta.url)) });
} catch (error) {
  // A missing setting is the operator's to fix: one clear message, no stack trace.
  console.error((error as Error).message);
  process.exit(1);
}
const { stage, settings } = selected;

new RegistryStack(app, `Stratus-${stage.name}`, {
  settings,
  description: `Stratus container registry (${stage.name})`,
  // Without an account the stack is environment-agnostic for synth; deploy fills in the credentials' account.
  env: { account: stage.account ?? process.env.CDK_DEFAULT_ACCOUNT, region: stage.region },
});

// cdk-nag 3 is a policy-validation plugin (DESIGN.md "Deploy"); findings stop synth unless acknowledged in code.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
