import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, type CfnElement, Validations } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { type OperatorSettings, stageSettings } from "../../../infra/stages.ts";
import { RegistryStack } from "../../src/index.ts";

// Synthesizes a stage (bundling the Lambda with esbuild, ~1 s) with cdk-nag on, as infra/app.ts does.

export const repoRoot = new URL("../../../", import.meta.url).pathname;

/** The operator settings a production deploy is given (infra/stages.ts: no placeholder in the stages). */
export const PROD_SETTINGS = {
  domainName: "registry.example.com",
  certificateArn: "arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000",
} as const satisfies OperatorSettings;

/** The challenge front's certificate: CloudFront takes ACM certificates from us-east-1 only. */
export const FRONT_CERTIFICATE_ARN = "arn:aws:acm:us-east-1:111111111111:certificate/11111111-1111-1111-1111-111111111111";

export interface Synth {
  template: Template;
  json: { Resources: Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: unknown }>; Outputs?: Record<string, unknown> };
  report: { pluginReports: { violations: unknown[] }[] };
  acknowledged: { id: string; reason: string }[];
  /** The app's other stacks by name: the us-east-1 support stack of the challenge front's Lambda@Edge function. */
  others: Record<string, Synth["json"]>;
  /** Logical IDs of the secrets: multi-tenant mode's two, and the upload link key when the stage has the upload service. */
  secrets: { tokenSecrets: string; adminToken: string; uploadToken?: string };
}

export function synth(stage: string, operator: OperatorSettings = {}): Synth {
  const outdir = mkdtempSync(join(tmpdir(), `stratus-cdk-${stage}-`));
  const app = new App({ outdir });
  const stack = new RegistryStack(app, `Stratus-${stage}`, {
    settings: stageSettings(stage, { ...operator, repoRoot }).settings,
    env: { account: "111111111111", region: "eu-west-1" },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const acknowledged: { id: string; reason: string }[] = [];
  // The whole app: the challenge front's support stack (us-east-1) carries acknowledgements too.
  for (const node of app.node.findAll()) {
    for (const m of node.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)) {
      for (const [key, reason] of Object.entries(m.data as Record<string, string>)) {
        // aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules: not ours to check.
        if (!key.startsWith("CloudFormation-Validate::")) acknowledged.push({ id: key.replace(/^Annotation::/, ""), reason });
      }
    }
  }
  const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  const secrets = {
    tokenSecrets: logicalId(stack.auth.tokenSecrets),
    adminToken: logicalId(stack.auth.adminToken),
    ...(stack.uploadService ? { uploadToken: logicalId(stack.uploadService.tokenSecret) } : {}),
  };
  // Throws ValidationFailed when cdk-nag reports a finding nobody acknowledged.
  const assembly = app.synth();
  const json = assembly.getStackByName(stack.stackName).template as Synth["json"];
  const others = Object.fromEntries(
    assembly.stacks.filter((st) => st.stackName !== stack.stackName).map((st) => [st.stackName, st.template as Synth["json"]]),
  );
  const report = JSON.parse(readFileSync(join(outdir, "validation-report.json"), "utf8")) as Synth["report"];
  return { template: Template.fromJSON(json), json, report, acknowledged, others, secrets };
}

export const ofType = (s: Synth, type: string) => Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);

/** The statements of every IAM policy attached to the role of the given logical id. */
export function statementsOfRole(s: Synth, role: string): { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  return ofType(s, "AWS::IAM::Policy")
    .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement);
}

/** The registry's own functions (the registry and the sweep), not the image build's custom-resource handler. */
export const registryFunctions = (s: Synth) => ofType(s, "AWS::Lambda::Function").filter(([id]) => id.startsWith("Registry"));
