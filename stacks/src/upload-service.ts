import { CfnOutput, Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import * as ecsPatterns from "aws-cdk-lib/aws-ecs-patterns";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import type * as logs from "aws-cdk-lib/aws-logs";
import { LogGroup } from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { acknowledgeObjectWildcard, type RegistryStorage } from "./storage.ts";

// The upload service (DESIGN.md "How clients upload blobs"): packages/server as a container on
// Fargate behind an Application Load Balancer, for uploads larger than a Lambda request.

export interface UploadServiceProps {
  storage: RegistryStorage;
  /**
   * The container image. `{ kind: "registry", uri }` references a published image (synth stays
   * offline and deterministic); `{ kind: "asset", directory, file }` builds infra/upload-service/Dockerfile
   * with Docker at synth and pushes it to the bootstrap ECR repository.
   */
  image: { kind: "registry"; uri: string } | { kind: "asset"; directory: string; file: string };
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
  /** upload.<domain> and an ACM certificate for it; without, the service answers plain HTTP on the load balancer's name. */
  domain?: { name: string; certificateArn: string };
}

const CONTAINER_PORT = 5000;
/**
 * The load balancer's idle timeout: a layer streams for minutes, and it is idle time between
 * bytes, so a stalled client is dropped. The service keeps idle connections 5 s longer, or the
 * ALB would send a request into a connection the service is closing and answer 502 (DESIGN.md).
 */
const ALB_IDLE_SECONDS = 120;

export class UploadService extends Construct {
  readonly service: ecsPatterns.ApplicationLoadBalancedFargateService;
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

    const logGroup = new LogGroup(this, "Logs", { retention: props.logRetention, removalPolicy: props.removalPolicy });
    const image =
      props.image.kind === "registry"
        ? ecs.ContainerImage.fromRegistry(props.image.uri)
        : ecs.ContainerImage.fromAsset(props.image.directory, { file: props.image.file, platform: Platform.LINUX_ARM64,
            // The build context is the repository root: only sources and manifests matter.
            exclude: ["**/node_modules", "cdk.out", ".git", ".tmp", "data", "coverage"],
          });
    const certificate = props.domain ? acm.Certificate.fromCertificateArn(this, "Certificate", props.domain.certificateArn) : undefined;
    const publicUrl = props.domain ? `https://${props.domain.name}` : undefined;

    this.service = new ecsPatterns.ApplicationLoadBalancedFargateService(this, "Service", {
      cluster,
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      desiredCount: props.minTasks,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      assignPublicIp: true,
      taskSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      publicLoadBalancer: true,
      ...(certificate
        ? { certificate, protocol: elbv2.ApplicationProtocol.HTTPS, redirectHTTP: true, sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS }
        : { protocol: elbv2.ApplicationProtocol.HTTP }),
      idleTimeout: Duration.seconds(ALB_IDLE_SECONDS),
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
      taskImageOptions: {
        image,
        containerName: "upload",
        containerPort: CONTAINER_PORT,
        logDriver: ecs.LogDrivers.awsLogs({ streamPrefix: "upload", logGroup }),
        // packages/server/src/options.ts reads these (the CMD also passes --storage aws --host 0.0.0.0).
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
          ...(publicUrl ? { STRATUS_UPLOAD_URL: publicUrl } : {}),
          STRATUS_MULTI_TENANT: "true",
          STRATUS_IDLE_TIMEOUT_SECONDS: String(ALB_IDLE_SECONDS + 5),
        },
        // Injected when a task starts (the execution role reads them): a new value needs new tasks.
        secrets: {
          STRATUS_UPLOAD_TOKEN_SECRET: ecs.Secret.fromSecretsManager(this.tokenSecret),
          STRATUS_TOKEN_SECRETS: ecs.Secret.fromSecretsManager(props.tokenSecrets),
        },
      },
    });
    const taskDefinition = this.service.taskDefinition;
    Validations.of(taskDefinition).acknowledge({
      id: "AwsSolutions-ECS2",
      reason: "The variables are names, numbers and flags (bucket, table, region, timeouts, multi-tenant), no secrets; both secrets come from Secrets Manager.",
    });

    // GET /v2/ without credentials answers 401 in multi-tenant mode, as the stack runs the service
    // (200 in open mode): either means the process serves. A 5xx or no answer means it does not.
    this.service.targetGroup.configureHealthCheck({
      path: "/v2/",
      healthyHttpCodes: "200,401",
      interval: Duration.seconds(15),
      timeout: Duration.seconds(5),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    });
    // Let in-flight uploads finish on scale-in and deploys (the server's shutdown grace is 10 s by default).
    this.service.targetGroup.setAttribute("deregistration_delay.timeout_seconds", "30");

    const scaling = this.service.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    // Uploads are hashing and network bound: CPU tracks load well.
    scaling.scaleOnCpuUtilization("Cpu", {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });

    props.storage.grantRegistryAccess(taskDefinition.taskRole);
    acknowledgeObjectWildcard(taskDefinition.taskRole.node.findChild("DefaultPolicy"), props.storage);

    const alb = this.service.loadBalancer;
    Validations.of(alb).acknowledge({
      id: "AwsSolutions-ELB2",
      reason: "The upload service logs every request itself; ALB access logs would need a dedicated bucket and add little for a single-route service.",
    });
    const albSecurityGroup = alb.connections.securityGroups[0];
    if (albSecurityGroup) {
      Validations.of(albSecurityGroup).acknowledge({
        id: "AwsSolutions-EC23",
        reason: "The upload service is a public endpoint: container clients upload from anywhere (like the registry API itself).",
      });
    }

    this.url = publicUrl ?? `http://${alb.loadBalancerDnsName}`;
    new CfnOutput(stack, "UploadUrl", { value: this.url, description: "The upload service (large blob uploads)" });
    new CfnOutput(stack, "UploadClusterName", { value: cluster.clusterName, description: "The upload service's ECS cluster (restarting tasks: docs/deploy.md)" });
    new CfnOutput(stack, "UploadServiceName", { value: this.service.service.serviceName, description: "The upload service's ECS service (restarting tasks: docs/deploy.md)" });
    if (props.domain) {
      new CfnOutput(stack, "UploadDomainTarget", { value: alb.loadBalancerDnsName, description: `DNS: point ${props.domain.name} (CNAME or alias) at this name` });
    }
  }
}
