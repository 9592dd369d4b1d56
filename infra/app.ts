// The CDK app: `npm run synth` / `npm run deploy -- -c stage=prod` (cdk.json runs this file with tsx).
import { fileURLToPath } from "node:url";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { RegistryStack } from "../stacks/src/index.ts";
import { stageSettings } from "./stages.ts";

const app = new App();
const stageName = String(app.node.tryGetContext("stage") ?? "dev");
// -c uploadImage=build: build infra/upload-service/Dockerfile with Docker instead of pulling the stage's image.
const buildImage = app.node.tryGetContext("uploadImage") === "build";
const { stage, settings } = stageSettings(stageName, { buildImage, repoRoot: fileURLToPath(new URL("../", import.meta.url)) });

new RegistryStack(app, `Stratus-${stage.name}`, {
  settings,
  description: `Stratus container registry (${stage.name})`,
  // Without an account the stack is environment-agnostic for synth; deploy fills in the credentials' account.
  env: { account: stage.account ?? process.env.CDK_DEFAULT_ACCOUNT, region: stage.region },
});

// cdk-nag 3 is a policy-validation plugin (DESIGN.md "Deploy"); findings stop synth unless acknowledged in code.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
