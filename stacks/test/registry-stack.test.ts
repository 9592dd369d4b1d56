import { Match } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { stageSchema, stageSettings, STAGES } from "../../infra/stages.ts";
import { LAMBDA_ENV, readLambdaConfig } from "../../packages/lambda/src/config.ts";
import { IDLE_INDEX, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, tableDefinition } from "../../packages/storage-aws/src/dynamo-table.ts";
import { expectValidAgainstSpec } from "./support/cfn-spec.ts";
import { ofType, PROD_SETTINGS, registryFunctions, repoRoot, type Synth, synth } from "./support/synth.ts";

// Synthesizes each stage once (support/synth.ts) with cdk-nag on, as infra/app.ts does; prod with
// the settings an operator gives it. Deploy modes, HTTPS, draining and IAM scopes: deploy-modes.test.ts.

const functionId = (s: Synth, handler: "index.handler" | "index.sweep"): string =>
  registryFunctions(s).find(([, r]) => r.Properties.Handler === handler)![0];

/** The secrets (logical IDs) a Lambda function's role may read, from the policies attached to it. */
function secretsReadBy(s: Synth, fn: string): string[] {
  const role = (s.json.Resources[fn]!.Properties.Role as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
  const read = new Set<string>();
  for (const [, policy] of ofType(s, "AWS::IAM::Policy")) {
    if (!(policy.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role)) continue;
    for (const st of (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement) {
      if (![st.Action].flat().some((a) => a.startsWith("secretsmanager:"))) continue;
      for (const r of [st.Resource].flat()) read.add((r as { Ref: string }).Ref);
    }
  }
  return [...read].sort();
}

const logicalIdOf = (s: Synth, type: string): string => {
  const found = ofType(s, type);
  expect(found).toHaveLength(1);
  return found[0]![0];
};

/** Replaces CloudFormation intrinsics by sample strings, as a deployed function would see them. */
function sampleValue(value: unknown, samples: Record<string, string>): string {
  if (typeof value === "string") return value;
  const ref = (value as { Ref?: string }).Ref;
  if (ref && samples[ref]) return samples[ref];
  if ((value as { "Fn::Join"?: unknown })["Fn::Join"]) {
    const [sep, parts] = (value as { "Fn::Join": [string, unknown[]] })["Fn::Join"];
    return parts.map((p) => sampleValue(p, samples)).join(sep);
  }
  if ((value as { "Fn::GetAtt"?: unknown })["Fn::GetAtt"]) return "sample-name.elb.eu-west-1.amazonaws.com";
  throw new Error(`no sample for ${JSON.stringify(value)}`);
}

let dev: Synth;
let prod: Synth;
beforeAll(() => {
  dev = synth("dev");
  prod = synth("prod", PROD_SETTINGS);
}, 120_000);

describe("bucket", () => {
  it("blocks public access, requires TLS, encrypts, aborts incomplete multipart uploads", () => {
    dev.template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Status: "Enabled", AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } })]) },
    });
    dev.template.hasResourceProperties("AWS::S3::BucketPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          Match.objectLike({ Effect: "Deny", Action: "s3:*", Condition: { NumericLessThan: { "s3:TlsVersion": 1.2 } } }),
        ]),
      },
    });
  });

  it("is retained in prod, not in dev", () => {
    prod.template.hasResource("AWS::S3::Bucket", { DeletionPolicy: "Retain" });
    dev.template.hasResource("AWS::S3::Bucket", { DeletionPolicy: "Delete" });
  });
});

describe("table", () => {
  it("is declared from the store's own definition: keys, attributes, GSI, TTL, billing", () => {
    const definition = tableDefinition("x");
    dev.template.hasResourceProperties("AWS::DynamoDB::Table", {
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: PARTITION_KEY, KeyType: "HASH" },
        { AttributeName: SORT_KEY, KeyType: "RANGE" },
      ],
      AttributeDefinitions: Match.arrayEquals(definition.AttributeDefinitions!.map((a) => ({ AttributeName: a.AttributeName, AttributeType: a.AttributeType }))),
      GlobalSecondaryIndexes: [
        {
          IndexName: IDLE_INDEX.name,
          KeySchema: [
            { AttributeName: IDLE_INDEX.partitionKey, KeyType: "HASH" },
            { AttributeName: IDLE_INDEX.sortKey, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: IDLE_INDEX.projection },
        },
      ],
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    // The definition's GSI list has one entry: the stack declares all of them.
    expect(definition.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual([IDLE_INDEX.name]);
  });

  it("has deletion protection in prod", () => {
    prod.template.hasResource("AWS::DynamoDB::Table", { DeletionPolicy: "Retain", Properties: Match.objectLike({ DeletionProtectionEnabled: true }) });
  });
});

describe("functions", () => {
  it("run nodejs22.x on arm64: the registry (29 s, under API Gateway's 30 s) and the sweep", () => {
    const fns = registryFunctions(dev).map(([, r]) => r.Properties);
    expect(fns.map((f) => f.Handler).sort()).toEqual(["index.handler", "index.sweep"]);
    for (const f of fns) {
      expect(f.Runtime).toBe("nodejs22.x");
      expect(f.Architectures).toEqual(["arm64"]);
    }
    dev.template.hasResourceProperties("AWS::Lambda::Function", { Handler: "index.handler", Timeout: 29, MemorySize: 1024 });
  });

  it("set exactly the variables the Lambda reads, and readLambdaConfig accepts them", () => {
    const storageVars = [LAMBDA_ENV.bucket, LAMBDA_ENV.table, LAMBDA_ENV.presignSeconds, LAMBDA_ENV.uploadTtlSeconds];
    const registryVars = [...storageVars, LAMBDA_ENV.multiTenant, LAMBDA_ENV.tokenSecretsArn, LAMBDA_ENV.adminTokenArn];
    const arn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
    for (const [s, expected] of [
      [dev, { "index.handler": registryVars, "index.sweep": storageVars }],
      [prod, { "index.handler": [...registryVars, LAMBDA_ENV.uploadUrl, LAMBDA_ENV.uploadTokenSecretArn], "index.sweep": storageVars }],
    ] as const) {
      const samples = {
        [logicalIdOf(s, "AWS::S3::Bucket")]: "stratus-blobs-sample",
        [logicalIdOf(s, "AWS::DynamoDB::Table")]: "stratus-metadata-sample",
        ...Object.fromEntries(Object.entries(s.secrets).map(([name, id]) => [id, arn(name)])),
      };
      for (const [, fn] of registryFunctions(s)) {
        const handler = fn.Properties.Handler as keyof typeof expected;
        const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        expect(Object.keys(vars).sort()).toEqual([...expected[handler]].sort());
        const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, sampleValue(v, samples)]));
        const config = readLambdaConfig({ ...env, AWS_REGION: "eu-west-1" });
        expect(config).toMatchObject({ bucket: "stratus-blobs-sample", table: "stratus-metadata-sample", presignSeconds: 900, uploadTtlSeconds: 86_400 });
        if (handler === "index.sweep") {
          // The sweep serves no requests: no tenants' tokens, no upload links, nothing secret.
          expect(config).toMatchObject({ multiTenant: false });
          continue;
        }
        expect(config).toMatchObject({ multiTenant: true, tokenSecretsArn: arn("tokenSecrets"), adminTokenArn: arn("adminToken") });
        if (s === prod) expect(config).toMatchObject({ uploadUrl: "https://upload.registry.example.com", uploadTokenSecretArn: arn("uploadToken") });
      }
    }
  });

  it("log to their own log groups, kept for the stage's retention", () => {
    for (const [s, days] of [[dev, 14], [prod, 90]] as const) {
      const groups = ofType(s, "AWS::Logs::LogGroup");
      expect(groups.length).toBeGreaterThanOrEqual(3);
      for (const [, g] of groups) expect(g.Properties.RetentionInDays).toBe(days);
      for (const [, fn] of registryFunctions(s)) {
        const target = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
        expect(s.json.Resources[target]?.Type).toBe("AWS::Logs::LogGroup");
      }
    }
  });

  it("run the sweep every 5 minutes, with S3 aborting unfinished multipart uploads as a backstop", () => {
    const sweep = registryFunctions(dev).find(([, r]) => r.Properties.Handler === "index.sweep")![0];
    dev.template.hasResourceProperties("AWS::Lambda::Function", { Handler: "index.sweep", Timeout: 300 });
    dev.template.hasResourceProperties("AWS::S3::Bucket", {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 }, Status: "Enabled" })]) },
    });
    dev.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(5 minutes)",
      Targets: [Match.objectLike({ Arn: { "Fn::GetAtt": [sweep, "Arn"] } })],
    });
  });
});

describe("multi-tenant secrets", () => {
  it("are generated by Secrets Manager, retained in prod, not in dev", () => {
    for (const [s, policy] of [[dev, "Delete"], [prod, "Retain"]] as const) {
      for (const id of [s.secrets.tokenSecrets, s.secrets.adminToken]) {
        s.template.templateMatches({
          Resources: {
            [id]: {
              Type: "AWS::SecretsManager::Secret",
              DeletionPolicy: policy,
              // 64 letters and digits: no whitespace (the separator of several token secrets), over the 32-character minimum.
              Properties: Match.objectLike({ GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true } }),
            },
          },
        });
      }
    }
  });

  it("are read by the registry function only, never by the sweep", () => {
    expect(secretsReadBy(dev, functionId(dev, "index.handler"))).toEqual([dev.secrets.tokenSecrets, dev.secrets.adminToken].sort());
    expect(secretsReadBy(prod, functionId(prod, "index.handler"))).toEqual([prod.secrets.tokenSecrets, prod.secrets.adminToken, prod.secrets.uploadToken!].sort());
    for (const s of [dev, prod]) expect(secretsReadBy(s, functionId(s, "index.sweep"))).toEqual([]);
  });

  it("output the admin token's ARN with the command that prints it, and keep the other outputs", () => {
    for (const s of [dev, prod]) {
      s.template.hasOutput("AdminTokenSecretArn", {
        Value: { Ref: s.secrets.adminToken },
        Description: Match.stringLikeRegexp("aws secretsmanager get-secret-value --secret-id <this ARN> --query SecretString --output text"),
      });
      s.template.hasOutput("AdminTokenCommand", {
        Value: { "Fn::Join": ["", Match.arrayWith([Match.stringLikeRegexp("aws secretsmanager get-secret-value --region"), { Ref: s.secrets.adminToken }])] },
      });
      s.template.hasOutput("TokenSecretsArn", { Value: { Ref: s.secrets.tokenSecrets } });
      for (const name of ["RegistryUrl", "ApiEndpoint", "RegistryFunctionName"]) s.template.hasOutput(name, {});
    }
    for (const name of ["UploadUrl", "UploadDomainTarget", "RegistryDomainTarget", "UploadClusterName", "UploadServiceName"]) prod.template.hasOutput(name, {});
  });
});

describe("grants", () => {
  it("scope every statement to the bucket, the table, its index or the function's log group", () => {
    const bucket = logicalIdOf(prod, "AWS::S3::Bucket");
    const table = logicalIdOf(prod, "AWS::DynamoDB::Table");
    for (const [, policy] of ofType(prod, "AWS::IAM::Policy")) {
      const statements = (policy.Properties.PolicyDocument as { Statement: { Resource: unknown; Action: string | string[] }[] }).Statement;
      for (const st of statements) {
        const resources = ([] as unknown[]).concat(st.Resource);
        // "*" only for ecr:GetAuthorizationToken (image pulls and the image build), which takes no resource.
        if (resources.includes("*")) expect(st.Action).toBe("ecr:GetAuthorizationToken");
      }
    }
    const roles = ofType(prod, "AWS::IAM::Policy").map(([, p]) => JSON.stringify(p.Properties));
    const registryPolicies = roles.filter((p) => p.includes("s3:PutObjectTagging"));
    // The registry Lambda and the upload service's task role (the sweep has its own, narrower grant).
    expect(registryPolicies).toHaveLength(2);
    for (const p of registryPolicies) {
      expect(p).toContain(`{"Fn::Join":["",[{"Fn::GetAtt":["${bucket}","Arn"]},"/*"]]}`);
      expect(p).toContain(`{"Fn::Join":["",[{"Fn::GetAtt":["${table}","Arn"]},"/index/${IDLE_INDEX.name}"]]}`);
      for (const action of ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:GetObjectTagging", "s3:ListBucket", "s3:ListBucketMultipartUploads", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]) {
        expect(p).toContain(`"${action}"`);
      }
      expect(p).not.toMatch(/"s3:\*"|"dynamodb:\*"|s3:PutObjectAcl|dynamodb:Scan/);
    }
    // No AWS managed policies (AWSLambdaBasicExecutionRole would allow every log group), except on the
    // roles of the deploy-time image build (stacks/src/image-build.ts says why).
    for (const [id, role] of ofType(prod, "AWS::IAM::Role")) {
      if (!/^(DeployTimeBuild|ContainerImageBuild)/.test(id)) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe("HTTP API", () => {
  it("routes everything to the registry function, logs access, maps the custom domain in prod", () => {
    const registry = registryFunctions(prod).find(([, r]) => r.Properties.Handler === "index.handler")![0];
    prod.template.resourceCountIs("AWS::ApiGatewayV2::Route", 2);
    prod.template.hasResourceProperties("AWS::ApiGatewayV2::Route", { RouteKey: "ANY /{proxy+}" });
    prod.template.hasResourceProperties("AWS::ApiGatewayV2::Integration", { IntegrationUri: { "Fn::GetAtt": [registry, "Arn"] }, PayloadFormatVersion: "2.0" });
    prod.template.hasResourceProperties("AWS::ApiGatewayV2::Stage", { StageName: "$default", AutoDeploy: true, AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }) });
    prod.template.hasResourceProperties("AWS::ApiGatewayV2::DomainName", { DomainName: "registry.example.com" });
    prod.template.resourceCountIs("AWS::ApiGatewayV2::ApiMapping", 1);
    dev.template.resourceCountIs("AWS::ApiGatewayV2::DomainName", 0);
    prod.template.hasOutput("RegistryUrl", { Value: "https://registry.example.com" });
    prod.template.hasOutput("UploadUrl", { Value: "https://upload.registry.example.com" });
  });
});

describe("upload service", () => {
  it("is absent where the stage disables it", () => {
    dev.template.resourceCountIs("AWS::ECS::Service", 0);
    dev.template.resourceCountIs("AWS::ElasticLoadBalancingV2::LoadBalancer", 0);
  });

  it("runs multi-tenant on Fargate arm64 behind an HTTPS load balancer, health-checked on /v2/ (401 counts)", () => {
    prod.template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      RuntimePlatform: { CpuArchitecture: "ARM64", OperatingSystemFamily: "LINUX" },
      ContainerDefinitions: [
        Match.objectLike({
          PortMappings: [Match.objectLike({ ContainerPort: 5000 })],
          Environment: Match.arrayWith([
            { Name: "STRATUS_STORAGE", Value: "aws" },
            { Name: "STRATUS_S3_BUCKET", Value: { Ref: logicalIdOf(prod, "AWS::S3::Bucket") } },
            { Name: "STRATUS_DYNAMODB_TABLE", Value: { Ref: logicalIdOf(prod, "AWS::DynamoDB::Table") } },
            { Name: "STRATUS_UPLOAD_URL", Value: "https://upload.registry.example.com" },
            // Multi-tenant, so plan limits apply when the service commits a blob.
            { Name: "STRATUS_MULTI_TENANT", Value: "true" },
            // Idle connections outlive the load balancer's 120 s, or it sends requests into our closes (502).
            { Name: "STRATUS_IDLE_TIMEOUT_SECONDS", Value: "125" },
          ]),
          Secrets: [
            { Name: "STRATUS_UPLOAD_TOKEN_SECRET", ValueFrom: { Ref: prod.secrets.uploadToken } },
            { Name: "STRATUS_TOKEN_SECRETS", ValueFrom: { Ref: prod.secrets.tokenSecrets } },
          ],
        }),
      ],
    });
    prod.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", { HealthCheckPath: "/v2/", Matcher: { HttpCode: "200,401" } });
    prod.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Protocol: "HTTPS", Certificates: [{ CertificateArn: PROD_SETTINGS.certificateArn }] });
  });

  it("scales on CPU between the stage's task counts", () => {
    prod.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", { MinCapacity: 2, MaxCapacity: 10 });
    prod.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" }, TargetValue: 60 }),
    });
  });
});

describe("CloudFormation resource specification (offline, support/cfn-spec.ts)", () => {
  it("knows every resource type and property of each stage's template; required ones are there, literal values fit", () => {
    expectValidAgainstSpec(dev.json);
    expectValidAgainstSpec(prod.json);
  });
});

describe("cdk-nag (AwsSolutions)", () => {
  it("reports no finding left unacknowledged", () => {
    for (const s of [dev, prod]) expect(s.report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it("acknowledges each finding with a reason", () => {
    for (const s of [dev, prod]) {
      expect(s.acknowledged.length).toBeGreaterThan(0);
      if (s === prod) {
        expect(new Set(s.acknowledged.map((a) => a.id.replace(/\[.*/, "")))).toEqual(
          // IAM4 and CB4: the image build in AWS (@cdklabs/deploy-time-build, stacks/src/image-build.ts).
          new Set(["AwsSolutions-S1", "AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-L1", "AwsSolutions-APIG4", "AwsSolutions-SMG4", "AwsSolutions-ECS2", "AwsSolutions-ELB2", "AwsSolutions-EC23", "AwsSolutions-CB4"]),
        );
      }
      for (const a of s.acknowledged) {
        expect(a.id).toMatch(/^AwsSolutions-/);
        expect(a.reason.length).toBeGreaterThan(60);
      }
    }
  });
});

describe("stage settings", () => {
  it("validates every stage with the operator's settings and refuses a domain without a certificate", () => {
    for (const input of Object.values(STAGES)) expect(stageSchema.safeParse({ ...input, ...PROD_SETTINGS }).success).toBe(true);
    expect(stageSchema.safeParse({ ...STAGES.dev, domainName: PROD_SETTINGS.domainName }).success).toBe(false);
    expect(() => stageSettings("nope", { repoRoot })).toThrow(/unknown stage "nope"/);
  });
});
