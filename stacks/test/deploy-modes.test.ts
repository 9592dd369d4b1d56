import { App } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_PRESIGN_SECONDS, operatorSettings, stageSchema, stageSettings, STAGES } from "../../infra/stages.ts";
import { RegistryStack } from "../src/index.ts";
import { REGISTRY_TIMEOUT_SECONDS } from "../src/registry-api.ts";
import { ERROR_STATUSES_CACHED_BY_DEFAULT, FRONT_ORIGIN_READ_TIMEOUT_SECONDS } from "../src/challenge-front.ts";
import { ALB_IDLE_SECONDS, DRAIN_SECONDS, STOP_TIMEOUT_SECONDS, UPLOAD_PATHS } from "../src/upload-service.ts";
import { expectValidAgainstSpec } from "./support/cfn-spec.ts";
import { FRONT_CERTIFICATE_ARN, ofType, PROD_SETTINGS, registryFunctions, repoRoot, statementsOfRole, type Synth, synth } from "./support/synth.ts";

// Every stage and mode docs/deploy.md names, synthesized with cdk-nag as `npm run synth` does, and
// what a real deploy depends on: the image built from the deploy itself, HTTPS only, upload routes
// only, long uploads surviving scale-in and deploys, the sweep's narrow grant, restorable blobs.

let prod: Synth; // -c domainName=... -c certificateArn=... (the image built by CodeBuild: the default)
let prodLocal: Synth; // ... -c uploadImage=local
let prodBuild: Synth; // ... -c uploadImage=build (the older name of local)
let dev: Synth;
let devDomain: Synth; // dev with -c domainName=... -c certificateArn=...
let devFront: Synth; // dev with -c challengeFront=true (CloudFront's own domain)
let devFrontDomain: Synth; // ... -c domainName=... -c frontCertificateArn=... (no regional certificate: no upload service)
let prodFront: Synth; // prod's settings with -c challengeFront=true -c frontCertificateArn=...
beforeAll(() => {
  prod = synth("prod", PROD_SETTINGS);
  prodLocal = synth("prod", { ...PROD_SETTINGS, uploadImage: "local" });
  prodBuild = synth("prod", { ...PROD_SETTINGS, uploadImage: "build" });
  dev = synth("dev");
  devDomain = synth("dev", PROD_SETTINGS);
  devFront = synth("dev", { challengeFront: "true" });
  devFrontDomain = synth("dev", { challengeFront: "true", domainName: PROD_SETTINGS.domainName, frontCertificateArn: FRONT_CERTIFICATE_ARN });
  prodFront = synth("prod", { ...PROD_SETTINGS, challengeFront: "true", frontCertificateArn: FRONT_CERTIFICATE_ARN });
}, 300_000);

const all = () => ({ prod, prodLocal, prodBuild, dev, devDomain, devFront, devFrontDomain, prodFront });
const uploadUrl = `https://upload.${PROD_SETTINGS.domainName}`;
const containerOf = (s: Synth) => (ofType(s, "AWS::ECS::TaskDefinition")[0]![1].Properties.ContainerDefinitions as Record<string, unknown>[])[0]!;

describe("stages and modes", () => {
  it("each synthesizes with every cdk-nag finding acknowledged and a template CloudFormation knows", () => {
    for (const [name, s] of Object.entries(all())) {
      expect(s.report.pluginReports.flatMap((r) => r.violations), name).toEqual([]);
      expectValidAgainstSpec(s.json);
      // The challenge front's Lambda@Edge support stack (us-east-1), where there is one.
      for (const other of Object.values(s.others)) expectValidAgainstSpec(other);
    }
  });

  it("builds the upload image in AWS by default: CodeBuild at deploy time, from the repository's Dockerfile, for arm64", () => {
    const [, build] = ofType(prod, "Custom::CDKContainerImageBuild")[0]!;
    const command = build.Properties.buildCommand as string;
    expect(command).toContain("--file infra/upload-service/Dockerfile");
    expect(command).toContain("--platform linux/arm64");
    // Docker Hub rate-limits CodeBuild's shared IPs: the base images come from ECR Public.
    expect(command).toContain("--build-arg BASE_IMAGE=public.ecr.aws/docker/library/node:22-slim");
    prod.template.hasResourceProperties("AWS::CodeBuild::Project", { Environment: Match.objectLike({ Type: "ARM_CONTAINER", PrivilegedMode: true }) });
    // The task runs the image the build pushed (its repository, its tag).
    const repository = ofType(prod, "AWS::ECR::Repository")[0]![0];
    expect(JSON.stringify(containerOf(prod).Image)).toContain(repository);
    expect(JSON.stringify(containerOf(prod).Image)).toContain("ImageTag");
  });

  it("builds it with the local Docker on request (-c uploadImage=local, or its older name build): a CDK image asset", () => {
    for (const s of [prodLocal, prodBuild]) {
      s.template.resourceCountIs("AWS::CodeBuild::Project", 0);
      expect(JSON.stringify(containerOf(s).Image)).toContain("cdk-hnb659fds-container-assets");
    }
    expect(stageSettings("prod", { ...PROD_SETTINGS, uploadImage: "build", repoRoot }).settings.uploadService.image.kind).toBe("local");
    expect(() => stageSettings("prod", { ...PROD_SETTINGS, uploadImage: "docker", repoRoot })).toThrow(/uploadImage "docker" is not one of codebuild .*, local/);
  });

  it("grants '*' only for ecr:GetAuthorizationToken, the one finding acknowledged on the execution role", () => {
    for (const s of [prod, prodLocal]) {
      const role = (ofType(s, "AWS::ECS::TaskDefinition")[0]![1].Properties.ExecutionRoleArn as { "Fn::GetAtt": [string] })["Fn::GetAtt"][0];
      const wildcard = statementsOfRole(s, role).filter((st) => ([] as unknown[]).concat(st.Resource).includes("*"));
      expect(wildcard.map((st) => st.Action)).toEqual(["ecr:GetAuthorizationToken"]);
      expect(s.acknowledged.filter((a) => a.id === "AwsSolutions-IAM5[Resource::*]").length).toBeGreaterThan(0);
    }
  });
});

describe("settings an operator gives", () => {
  it("are required where the stage needs them: synth fails naming each, with the flag and the variable", () => {
    expect(() => stageSettings("prod", { repoRoot })).toThrow(
      /domainName: missing.*-c domainName=registry\.example\.com, or STRATUS_DOMAIN_NAME[\s\S]*certificateArn: missing.*-c certificateArn=.*, or STRATUS_CERTIFICATE_ARN/,
    );
    expect(() => stageSettings("prod", { domainName: PROD_SETTINGS.domainName, repoRoot })).toThrow(/certificateArn: missing/);
    expect(() => stageSettings("prod", { ...PROD_SETTINGS, certificateArn: "arn:aws:acm:us-east-1:111111111111:certificate/abc", repoRoot })).toThrow(
      /the certificate is in us-east-1; .* region eu-west-1/,
    );
    // No placeholder domain, certificate or image in any stage.
    expect(JSON.stringify(STAGES)).not.toMatch(/example\.com|arn:aws|ghcr\.io|image/);
  });

  it("come from -c context first, then STRATUS_* variables", () => {
    const context: Record<string, string> = { domainName: "r.example.org" };
    const env = { STRATUS_DOMAIN_NAME: "ignored.example.org", STRATUS_CERTIFICATE_ARN: PROD_SETTINGS.certificateArn, STRATUS_UPLOAD_IMAGE: "local" };
    expect(operatorSettings((k) => context[k], env)).toEqual({ domainName: "r.example.org", certificateArn: PROD_SETTINGS.certificateArn, uploadImage: "local" });
  });

  it("never give the upload service without HTTPS, whoever builds the stack", () => {
    const settings = stageSettings("dev", { repoRoot }).settings;
    const app = new App();
    expect(() => new RegistryStack(app, "NoTls", { settings: { ...settings, uploadService: { ...settings.uploadService, enabled: true } } })).toThrow(
      /upload service needs domainName and certificateArn/,
    );
  });

  it("cap presigned URL lifetimes at what role credentials can keep", () => {
    const parse = (presignSeconds: number) => stageSchema.safeParse({ ...STAGES.dev, presignSeconds }).success;
    expect(MAX_PRESIGN_SECONDS).toBe(3600);
    expect(parse(3600)).toBe(true);
    expect(parse(3601)).toBe(false);
  });
});

describe("upload service", () => {
  it("is reachable over HTTPS only: one listener, port 443, no port 80 (not even a redirect)", () => {
    prod.template.resourceCountIs("AWS::ElasticLoadBalancingV2::Listener", 1);
    prod.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      Port: 443,
      Protocol: "HTTPS",
      Certificates: [{ CertificateArn: PROD_SETTINGS.certificateArn }],
      SslPolicy: Match.stringLikeRegexp("TLS13"),
    });
    const lbGroups = ofType(prod, "AWS::EC2::SecurityGroup").filter(([id]) => id.includes("LoadBalancer"));
    expect(lbGroups).toHaveLength(1);
    const ingress = lbGroups[0]![1].Properties.SecurityGroupIngress as { FromPort: number; ToPort: number }[];
    expect(ingress.map((r) => [r.FromPort, r.ToPort])).toEqual([[443, 443]]);
  });

  it("knows its public HTTPS URL, as does the registry that hands out its links", () => {
    expect(containerOf(prod).Environment).toEqual(expect.arrayContaining([{ Name: "STRATUS_UPLOAD_URL", Value: uploadUrl }]));
    const [, registry] = registryFunctions(prod).find(([, f]) => f.Properties.Handler === "index.handler")!;
    expect((registry.Properties.Environment as { Variables: Record<string, unknown> }).Variables.STRATUS_UPLOAD_URL).toBe(uploadUrl);
    prod.template.hasOutput("UploadUrl", { Value: uploadUrl });
  });

  it("serves upload sessions only: other paths get a 404 from the load balancer", () => {
    prod.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      DefaultActions: [Match.objectLike({ Type: "fixed-response", FixedResponseConfig: Match.objectLike({ StatusCode: "404", ContentType: "application/json" }) })],
    });
    const targetGroup = ofType(prod, "AWS::ElasticLoadBalancingV2::TargetGroup")[0]![0];
    prod.template.resourceCountIs("AWS::ElasticLoadBalancingV2::ListenerRule", 1);
    prod.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::ListenerRule", {
      Conditions: [{ Field: "path-pattern", PathPatternConfig: { Values: UPLOAD_PATHS } }],
      Actions: [{ Type: "forward", TargetGroupArn: { Ref: targetGroup } }],
    });
    // The pattern covers the Locations the registry issues (packages/core/src/http/upload-links.ts), names with slashes too.
    const matches = (path: string) => UPLOAD_PATHS.some((p) => new RegExp(`^${p.replaceAll("*", ".*")}$`).test(path));
    expect(matches("/v2/acme/web/api/blobs/uploads/0b8f1c2e-1111-4222-8333-944445555666")).toBe(true);
    for (const path of ["/v2/", "/token", "/admin/v1/tenants", "/v2/acme/app/manifests/1.0", "/v2/acme/app/blobs/sha256:ab"]) expect(matches(path)).toBe(false);
  });

  it("lets long uploads finish: keep-alive past the ALB's idle timeout, an hour of draining, Fargate's longest stop", () => {
    prod.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
      LoadBalancerAttributes: Match.arrayWith([{ Key: "idle_timeout.timeout_seconds", Value: String(ALB_IDLE_SECONDS) }]),
    });
    expect(containerOf(prod).Environment).toEqual(expect.arrayContaining([{ Name: "STRATUS_IDLE_TIMEOUT_SECONDS", Value: String(ALB_IDLE_SECONDS + 5) }]));
    expect(DRAIN_SECONDS).toBe(3600); // the ALB's maximum
    prod.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
      TargetGroupAttributes: Match.arrayWith([{ Key: "deregistration_delay.timeout_seconds", Value: "3600" }]),
    });
    expect(containerOf(prod).StopTimeout).toBe(STOP_TIMEOUT_SECONDS);
    expect(containerOf(prod).Environment).toEqual(expect.arrayContaining([{ Name: "STRATUS_SHUTDOWN_GRACE_SECONDS", Value: String(STOP_TIMEOUT_SECONDS - 10) }]));
    expect(STOP_TIMEOUT_SECONDS).toBe(120); // Fargate's maximum
  });

  it("keeps the task count autoscaling set across deploys: no DesiredCount, replacement before removal", () => {
    const [, service] = ofType(prod, "AWS::ECS::Service")[0]!;
    expect(service.Properties.DesiredCount).toBeUndefined();
    expect(service.Properties.DeploymentConfiguration).toMatchObject({ MinimumHealthyPercent: 100, MaximumPercent: 200 });
    prod.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", { MinCapacity: 2, MaxCapacity: 10 });
  });
});

describe("registry function and sweep", () => {
  it("stop before API Gateway's 30 s, so the function logs its own timeout", () => {
    expect(REGISTRY_TIMEOUT_SECONDS).toBeLessThan(30);
    dev.template.hasResourceProperties("AWS::Lambda::Function", { Handler: "index.handler", Timeout: REGISTRY_TIMEOUT_SECONDS });
  });

  it("the sweep may only find, read and delete upload sessions and their staged objects", () => {
    for (const s of [dev, prod]) {
      const [, sweep] = registryFunctions(s).find(([, f]) => f.Properties.Handler === "index.sweep")!;
      const role = (sweep.Properties.Role as { "Fn::GetAtt": [string] })["Fn::GetAtt"][0];
      const bucket = ofType(s, "AWS::S3::Bucket")[0]![0];
      const table = ofType(s, "AWS::DynamoDB::Table")[0]![0];
      const grants = Object.fromEntries(statementsOfRole(s, role).map((st) => [st.Sid ?? "", { actions: [st.Action].flat().sort(), resource: st.Resource }]));
      expect(Object.keys(grants).sort()).toEqual(["AbortStagedMultipartUploads", "DeleteStagedTails", "IdleUploadsIndex", "ListStaging", "OwnLogs", "SessionItems"]);
      const objects = (keys: string) => ({ "Fn::Join": ["", [{ "Fn::GetAtt": [bucket, "Arn"] }, `/${keys}`]] });
      expect(grants.AbortStagedMultipartUploads).toEqual({ actions: ["s3:AbortMultipartUpload"], resource: objects("*/blobs/*") });
      expect(grants.DeleteStagedTails).toEqual({ actions: ["s3:DeleteObject", "s3:GetObjectTagging"], resource: objects("*/uploads/*") });
      expect(grants.ListStaging).toEqual({ actions: ["s3:ListBucket", "s3:ListBucketMultipartUploads"], resource: { "Fn::GetAtt": [bucket, "Arn"] } });
      expect(grants.SessionItems).toEqual({
        actions: ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
        resource: { "Fn::GetAtt": [table, "Arn"] },
      });
      expect(grants.IdleUploadsIndex!.actions).toEqual(["dynamodb:Query"]);
    }
  });
});

describe("recovery", () => {
  it("keeps deleted blob bytes as long as the table can be restored back", () => {
    for (const [s, days] of [[prod, 35], [dev, 7]] as const) {
      s.template.hasResourceProperties("AWS::DynamoDB::Table", { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: days } });
      s.template.hasResourceProperties("AWS::S3::Bucket", {
        VersioningConfiguration: { Status: "Enabled" },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([Match.objectLike({ Status: "Enabled", NoncurrentVersionExpiration: { NoncurrentDays: days }, ExpiredObjectDeleteMarker: true })]),
        },
      });
    }
  });
});

describe("challenge front (-c challengeFront=true)", () => {
  const fronts = () => ({ devFront, devFrontDomain, prodFront });
  const behaviour = (s: Synth) => (ofType(s, "AWS::CloudFront::Distribution")[0]![1].Properties.DistributionConfig as Record<string, unknown>);
  const registryEnv = (s: Synth) =>
    (registryFunctions(s).find(([, f]) => f.Properties.Handler === "index.handler")![1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;

  it("is off unless asked for", () => {
    for (const s of [dev, devDomain, prod]) {
      s.template.resourceCountIs("AWS::CloudFront::Distribution", 0);
      expect(Object.keys(s.others)).toEqual([]);
      expect(registryEnv(s).STRATUS_TOKEN_REALM).toBeUndefined();
    }
  });

  it("forwards every method, header but Host, query and cookie to the HTTP API over HTTPS, caching nothing", () => {
    for (const [name, s] of Object.entries(fronts())) {
      s.template.resourceCountIs("AWS::CloudFront::Distribution", 1);
      const api = ofType(s, "AWS::ApiGatewayV2::Api")[0]![0];
      const config = behaviour(s);
      expect(config.DefaultCacheBehavior, name).toMatchObject({
        AllowedMethods: ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
        CachePolicyId: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad", // Managed-CachingDisabled
        OriginRequestPolicyId: "b689b0a8-53d0-40ab-baf2-68738e2966ac", // Managed-AllViewerExceptHostHeader
        ViewerProtocolPolicy: "https-only",
        Compress: false,
      });
      expect(config.Origins).toEqual([
        expect.objectContaining({
          DomainName: { "Fn::Select": [2, { "Fn::Split": ["/", { "Fn::GetAtt": [api, "ApiEndpoint"] }] }] },
          CustomOriginConfig: { OriginProtocolPolicy: "https-only", OriginSSLProtocols: ["TLSv1.2"], OriginReadTimeout: FRONT_ORIGIN_READ_TIMEOUT_SECONDS },
        }),
      ]);
      // Errors CloudFront would otherwise keep 10 s: a HEAD's 404 before a push must not answer the GET after it.
      expect(config.CustomErrorResponses).toEqual(ERROR_STATUSES_CACHED_BY_DEFAULT.map((ErrorCode) => ({ ErrorCode, ErrorCachingMinTTL: 0 })));
    }
  });

  it("runs the Lambda@Edge function on origin responses, deployed in us-east-1 by a support stack", () => {
    for (const [name, s] of Object.entries(fronts())) {
      const associations = (behaviour(s).DefaultCacheBehavior as { LambdaFunctionAssociations: { EventType: string; LambdaFunctionARN: { "Fn::GetAtt": [string, string] } }[] }).LambdaFunctionAssociations;
      expect(associations.map((a) => a.EventType), name).toEqual(["origin-response"]);
      // The version ARN comes from the support stack through CDK's cross-region reader.
      const reader = associations[0]!.LambdaFunctionARN["Fn::GetAtt"][0];
      expect(s.json.Resources[reader]!.Type).toBe("Custom::CrossRegionStringParameterReader");
      expect(s.json.Resources[reader]!.Properties.Region).toBe("us-east-1");
      const [support] = Object.values(s.others);
      expect(Object.keys(s.others)).toHaveLength(1);
      const fns = Object.values(support!.Resources).filter((r) => r.Type === "AWS::Lambda::Function");
      expect(fns).toHaveLength(1);
      expect(fns[0]!.Properties).toMatchObject({ Runtime: "nodejs22.x", Handler: "index.handler", MemorySize: 128 });
      expect((fns[0]!.Properties.Code as { ZipFile: string }).ZipFile).toContain("x-amzn-remapped-www-authenticate");
      expect(Object.values(support!.Resources).some((r) => r.Type === "AWS::Lambda::Version")).toBe(true);
    }
  });

  it("becomes the registry's public URL: the challenge's realm, RegistryUrl; the service name stays", () => {
    for (const s of [devFrontDomain, prodFront]) {
      expect(registryEnv(s).STRATUS_TOKEN_REALM).toBe(`https://${PROD_SETTINGS.domainName}/token`);
      s.template.hasOutput("RegistryUrl", { Value: `https://${PROD_SETTINGS.domainName}` });
      s.template.hasOutput("FrontDomainTarget", { Value: { "Fn::GetAtt": [ofType(s, "AWS::CloudFront::Distribution")[0]![0], "DomainName"] } });
      expect(behaviour(s)).toMatchObject({
        Aliases: [PROD_SETTINGS.domainName],
        ViewerCertificate: { AcmCertificateArn: FRONT_CERTIFICATE_ARN, MinimumProtocolVersion: "TLSv1.2_2021", SslSupportMethod: "sni-only" },
      });
      // The domain is CloudFront's now: API Gateway keeps its execute-api URL only.
      s.template.resourceCountIs("AWS::ApiGatewayV2::DomainName", 0);
    }
    const distribution = ofType(devFront, "AWS::CloudFront::Distribution")[0]![0];
    const cloudfrontUrl = { "Fn::Join": ["", ["https://", { "Fn::GetAtt": [distribution, "DomainName"] }]] };
    devFront.template.hasOutput("RegistryUrl", { Value: cloudfrontUrl });
    expect(registryEnv(devFront).STRATUS_TOKEN_REALM).toEqual({ "Fn::Join": ["", ["https://", { "Fn::GetAtt": [distribution, "DomainName"] }, "/token"]] });
    expect(() => devFront.template.hasOutput("FrontDomainTarget", {})).toThrow();
    for (const s of Object.values(fronts())) expect(registryEnv(s).STRATUS_AUTH_SERVICE).toBeUndefined();
    // The upload service keeps its own host and regional certificate.
    prodFront.template.hasOutput("UploadUrl", { Value: `https://upload.${PROD_SETTINGS.domainName}` });
    prodFront.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Certificates: [{ CertificateArn: PROD_SETTINGS.certificateArn }] });
  });

  it("acknowledges CloudFront's and Lambda@Edge's findings with reasons; TLS 1.2 where a domain lets it be chosen", () => {
    const ids = (s: Synth) => new Set(s.acknowledged.map((a) => a.id));
    for (const s of Object.values(fronts())) {
      for (const id of ["AwsSolutions-CFR1", "AwsSolutions-CFR2", "AwsSolutions-CFR3", "AwsSolutions-L1"]) expect(ids(s)).toContain(id);
      expect([...ids(s)].some((id) => id.startsWith("AwsSolutions-IAM4[Policy::") && id.includes("AWSLambdaBasicExecutionRole"))).toBe(true);
    }
    expect(ids(devFront)).toContain("AwsSolutions-CFR4");
    expect(ids(prodFront)).not.toContain("AwsSolutions-CFR4");
  });

  it("needs a us-east-1 certificate for a domain: synth fails naming frontCertificateArn", () => {
    expect(() => stageSettings("prod", { ...PROD_SETTINGS, challengeFront: "true", repoRoot })).toThrow(
      /frontCertificateArn: missing: .*us-east-1.*-c frontCertificateArn=arn:aws:acm:us-east-1:.*STRATUS_FRONT_CERTIFICATE_ARN/,
    );
    expect(() => stageSettings("prod", { ...PROD_SETTINGS, challengeFront: "true", frontCertificateArn: PROD_SETTINGS.certificateArn, repoRoot })).toThrow(
      /frontCertificateArn: the certificate is in eu-west-1; CloudFront takes certificates from us-east-1 only/,
    );
    expect(() => stageSettings("dev", { frontCertificateArn: FRONT_CERTIFICATE_ARN, repoRoot })).toThrow(/only used with challengeFront and domainName/);
    expect(() => stageSettings("dev", { challengeFront: "yes", repoRoot })).toThrow(/challengeFront/);
    const settings = stageSettings("dev", { repoRoot }).settings;
    expect(() => new RegistryStack(new App(), "NoFrontCertificate", { settings: { ...settings, domainName: "r.example.org", challengeFront: {} }, env: { region: "eu-west-1" } })).toThrow(
      /give frontCertificateArn/,
    );
  });
});
