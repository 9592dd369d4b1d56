import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ContainerImageBuild } from "@cdklabs/deploy-time-build";
import { CfnOutput, Duration, IgnoreMode, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import type * as logs from "aws-cdk-lib/aws-logs";
import { LogGroup } from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { acknowledgeDeployTimeBuild } from "./image-build.ts";
import { acknowledgeObjectWildcard, type RegistryStorage } from "./storage.ts";

// The upload service (DESIGN.md "How clients upload blobs"): packages/server as a container on
// Fargate behind an Application Load Balancer, for uploads larger than a Lambda request. HTTPS
// only, upload sessions only, and built so a long upload survives scale-in and deploys.

export interface UploadServiceProps {
  storage: RegistryStorage;
  /**
   * How the image of infra/upload-service/Dockerfile (build context `directory`, the repository
   * root) is built: `codebuild` in AWS at deploy time (@cdklabs/deploy-time-build: the operator
   * needs only AWS credentials), `local` by the operator's Docker (a CDK image asset).
   */
  image: { kind: "codebuild" | "local"; directory: string; file: string };
  minTasks: number;
  maxTasks: number;
  cpu: number;
  memoryMiB: number;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
  presignSeconds: number;
  uploadTtlSeconds: number;
  /**
   * The token signing secrets (auth-secrets.ts): the service runs multi-tenant, so plan limits apply
   * when it commits a blob. It needs no operator token (packages/server/src/multi-tenant.ts).
   */
  tokenSecrets: secretsmanager.ISecret;
  /**
   * upload.<domain> and an ACM certificate for it. Required: upload links carry their own tokens and
   * layers are private, so the service never answers plain HTTP.
   */
  domain: { name: string; certificateArn: string };
}

const CONTAINER_PORT = 5000;
/**
 * The load balancer's idle timeout: a layer streams for minutes, and it is idle time between
 * bytes, so a stalled client is dropped. The service keeps idle connections 5 s longer, or the
 * ALB would send a request into a connection the service is closing and answer 502 (DESIGN.md).
 */
export const ALB_IDLE_SECONDS = 120;
/**
 * How long a task leaving the service (scale-in, deploy) keeps serving the requests it has: the
 * ALB's maximum. A draining target with no request in flight is released at once, so only a long
 * upload makes a scale-in or deploy wait; an upload longer than this is cut and the client retries.
 */
export const DRAIN_SECONDS = 3600;
/** Then SIGTERM, and SIGKILL this long after (Fargate's maximum): the server's shutdown grace fits in it. */
export const STOP_TIMEOUT_SECONDS = 120;
/**
 * What the upload host serves: upload sessions (PATCH, PUT, GET, DELETE /v2/<name>/blobs/uploads/<id>),
 * the paths of the Locations the registry hands out. The ALB's `*` spans slashes, as names do.
 * Everything else (manifests, tokens, the admin API) lives on the registry host only.
 */
export const UPLOAD_PATHS = ["/v2/*/blobs/uploads/*"];
/** Docker Hub limits anonymous pulls per IP, and CodeBuild's IPs are shared: the same images from ECR Public. */
const CODEBUILD_BASE_IMAGES = { BUILD_IMAGE: "public.ecr.aws/docker/library/node:22-slim", BASE_IMAGE: "public.ecr.aws/docker/library/node:22-slim" };

export class UploadService extends Construct {
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly url: string;
  /** Signs upload links; the registry and the service share it (STRATUS_UPLOAD_TOKEN_SECRET). */
  readonly tokenSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: UploadServiceProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // No NAT gateway (~$33 a month each): tasks run in public subnets with a public IP and accept
    // traffic from the load balancer only; S3 and DynamoDB are reached through free gateway endpoints.
    const vpc = new ec2.Vpc(this, "Vpc", {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    const flowLogs = new LogGroup(this, "FlowLogs", { retention: props.logRetention, removalPolicy: props.removalPolicy });
    vpc.addFlowLog("FlowLog", { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.REJECT });

    const cluster = new ecs.Cluster(this, "Cluster", { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    this.tokenSecret = new secretsmanager.Secret(this, "UploadTokenSecret", {
      description: "Stratus: key signing upload-service links (shared by the registry and the upload service)",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.tokenSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "Rotating the key invalidates upload links in flight; until the services accept the previous key during a grace period, rotate by hand: put a new value, then restart the registry function and the tasks (docs/deploy.md).",
    });

    const publicUrl = `https://${props.domain.name}`;
    const taskDefinition = new ecs.FargateTaskDefinition(this, "TaskDef", {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    taskDefinition.addContainer("upload", {
      image: this.containerImage(props.image),
      portMappings: [{ containerPort: CONTAINER_PORT }],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: "upload", logGroup: new LogGroup(this, "Logs", { retention: props.logRetention, removalPolicy: props.removalPolicy }) }),
      stopTimeout: Duration.seconds(STOP_TIMEOUT_SECONDS),
      // packages/server/src/options.ts reads these; the image's CMD fixes no flag.
      environment: {
        STRATUS_STORAGE: "aws",
        STRATUS_HOST: "0.0.0.0",
        STRATUS_PORT: String(CONTAINER_PORT),
        STRATUS_ALLOW_REMOTE: "true",
        STRATUS_S3_BUCKET: props.storage.bucket.bucketName,
        STRATUS_DYNAMODB_TABLE: props.storage.table.tableName,
        AWS_REGION: stack.region,
        STRATUS_PRESIGN_SECONDS: String(props.presignSeconds),
        STRATUS_UPLOAD_TTL_SECONDS: String(props.uploadTtlSeconds),
        // The service verifies the links the registry issues for this host (and re-issues them on each answer).
        STRATUS_UPLOAD_URL: publicUrl,
        STRATUS_MULTI_TENANT: "true",
        STRATUS_IDLE_TIMEOUT_SECONDS: String(ALB_IDLE_SECONDS + 5),
        // SIGTERM comes after draining; what is still in flight gets the rest of the stop timeout.
        STRATUS_SHUTDOWN_GRACE_SECONDS: String(STOP_TIMEOUT_SECONDS - 10),
      },
      // Injected when a task starts (the execution role reads them): a new value needs new tasks.
      secrets: {
        STRATUS_UPLOAD_TOKEN_SECRET: ecs.Secret.fromSecretsManager(this.tokenSecret),
        STRATUS_TOKEN_SECRETS: ecs.Secret.fromSecretsManager(props.tokenSecrets),
      },
    });
    Validations.of(taskDefinition).acknowledge({
      id: "AwsSolutions-ECS2",
      reason: "The variables are names, numbers and flags (bucket, table, region, timeouts, multi-tenant), no secrets; both secrets come from Secrets Manager.",
    });
    // CDK grants every ECR pull this: ecr:GetAuthorizationToken authorizes no resource, so IAM only takes "*".
    const executionPolicy = taskDefinition.obtainExecutionRole().node.tryFindChild("DefaultPolicy");
    if (executionPolicy) {
      Validations.of(executionPolicy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "Only ecr:GetAuthorizationToken is granted on '*' (the stack test checks): ECR's GetAuthorizationToken supports no resource-level permission, and pulling the image from its one repository needs it.",
      });
    }

    this.service = new ecs.FargateService(this, "Service", {
      cluster,
      taskDefinition,
      assignPublicIp: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      // No desiredCount: CloudFormation then starts one task and autoscaling raises it to minTasks;
      // a deploy leaves the count autoscaling has set alone (a fixed value would reset it).
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
    });

    // GET /v2/ without credentials answers 401 in multi-tenant mode, as the stack runs the service
    // (200 in open mode): either means the process serves. A 5xx or no answer means it does not.
    // Health checks go to the targets directly, past the listener's rules.
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, "Targets", {
      vpc,
      port: CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      deregistrationDelay: Duration.seconds(DRAIN_SECONDS),
      healthCheck: {
        path: "/v2/",
        healthyHttpCodes: "200,401",
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, "LoadBalancer", {
      vpc,
      internetFacing: true,
      idleTimeout: Duration.seconds(ALB_IDLE_SECONDS),
      dropInvalidHeaderFields: true,
    });
    // HTTPS only: no port 80 listener, not even a redirect (a redirected PATCH would already have
    // sent its link token and bytes in clear). The Locations the registry issues are https://.
    const https = this.loadBalancer.addListener("Https", {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(props.domain.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      open: true,
      defaultAction: elbv2.ListenerAction.fixedResponse(404, {
        contentType: "application/json",
        messageBody: JSON.stringify({
          errors: [{ code: "UNSUPPORTED", message: "this host serves upload sessions only (/v2/<name>/blobs/uploads/<id>); use the registry host", detail: null }],
        }),
      }),
    });
    https.addTargetGroups("UploadSessions", {
      priority: 10,
      conditions: [elbv2.ListenerCondition.pathPatterns(UPLOAD_PATHS)],
      targetGroups: [this.targetGroup],
    });

    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    // Uploads are hashing and network bound: CPU tracks load well.
    scaling.scaleOnCpuUtilization("Cpu", {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });

    props.storage.grantRegistryAccess(taskDefinition.taskRole);
    acknowledgeObjectWildcard(taskDefinition.taskRole.node.findChild("DefaultPolicy"), props.storage);

    Validations.of(this.loadBalancer).acknowledge({
      id: "AwsSolutions-ELB2",
      reason: "The upload service logs every request itself; ALB access logs would need a dedicated bucket and add little for a single-route service.",
    });
    for (const group of this.loadBalancer.connections.securityGroups) {
      Validations.of(group).acknowledge({
        id: "AwsSolutions-EC23",
        reason: "The upload service is a public endpoint: container clients upload from anywhere (like the registry API itself).",
      });
    }

    this.url = publicUrl;
    new CfnOutput(stack, "UploadUrl", { value: this.url, description: "The upload service (large blob uploads)" });
    new CfnOutput(stack, "UploadClusterName", { value: cluster.clusterName, description: "The upload service's ECS cluster (restarting tasks: docs/deploy.md)" });
    new CfnOutput(stack, "UploadServiceName", { value: this.service.serviceName, description: "The upload service's ECS service (restarting tasks: docs/deploy.md)" });
    new CfnOutput(stack, "UploadDomainTarget", {
      value: this.loadBalancer.loadBalancerDnsName,
      description: `DNS: point ${props.domain.name} (CNAME or alias) at this name`,
    });
  }

  private containerImage(image: UploadServiceProps["image"]): ecs.ContainerImage {
    // The build context is the repository root; its .dockerignore keeps it to manifests and sources.
    const ignore = join(image.directory, ".dockerignore");
    const exclude = existsSync(ignore) ? readFileSync(ignore, "utf8").split("\n").filter((l) => l.trim() && !l.startsWith("#")) : DEFAULT_EXCLUDES;
    if (image.kind === "local") {
      return ecs.ContainerImage.fromAsset(image.directory, { file: image.file, platform: Platform.LINUX_ARM64, exclude, ignoreMode: IgnoreMode.DOCKER });
    }
    const build = new ContainerImageBuild(this, "Image", {
      directory: image.directory,
      file: image.file,
      platform: Platform.LINUX_ARM64,
      exclude,
      ignoreMode: IgnoreMode.DOCKER,
      buildArgs: CODEBUILD_BASE_IMAGES,
    });
    acknowledgeDeployTimeBuild(build);
    return build.toEcsDockerImageCode();
  }
}

/** Without a .dockerignore: never send dependencies, build output or data to the builder. */
const DEFAULT_EXCLUDES = ["**/node_modules", ".git", "cdk.out", ".tmp", "data", "coverage", "dist"];
