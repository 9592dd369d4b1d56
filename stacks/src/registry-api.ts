import { CfnOutput, Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import * as apigw from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { ChallengeFront } from "./challenge-front.ts";
import { LAMBDA_BUILD } from "./lambda-bundling.ts";
import { acknowledgeObjectWildcard, acknowledgeSweepWildcards, type RegistryStorage } from "./storage.ts";

// The registry on Lambda behind an HTTP API (DESIGN.md "Shape", "AWS facts"), plus the scheduled
// sweep of idle upload sessions: two functions over one bundle.

export { LAMBDA_ENTRY } from "./lambda-bundling.ts";
/** How often the sweep runs; registry-stack.ts sizes the S3 lifecycle backstop past it. */
export const SWEEP_INTERVAL_MINUTES = 5;
/**
 * API Gateway HTTP APIs give up on an integration after 30 s (answering 503): the function stops
 * first, so its own log says it timed out (Lambda logs "Task timed out") and no work goes on
 * unobserved after the client got its error.
 */
export const REGISTRY_TIMEOUT_SECONDS = 29;
/**
 * 1024 MB: Lambda's CPU share grows with memory; a 4.5 MB body is hashed (SHA-256) and sent to S3 in
 * one request, and 1024 MB (~0.6 vCPU) keeps that well under API Gateway's 30 s. Requests that only
 * read DynamoDB finish in milliseconds either way, so the price per request stays low (docs/cost.md).
 */
export const REGISTRY_MEMORY_MB = 1024;

export interface RegistryApiProps {
  storage: RegistryStorage;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
  presignSeconds: number;
  uploadTtlSeconds: number;
  /** The upload service: its base URL and the key that signs upload links; unset: uploads stay in Lambda. */
  upload?: { url: string; tokenSecret: secretsmanager.ISecret };
  /** Multi-tenant mode's secrets (auth-secrets.ts): the stack always runs the registry multi-tenant. */
  auth: { tokenSecrets: secretsmanager.ISecret; adminToken: secretsmanager.ISecret };
  /** Custom domain of the registry (registry.example.com) and its ACM certificate in the stack's region. */
  domain?: { name: string; certificateArn: string };
  /**
   * The challenge front (challenge-front.ts): CloudFront before the API, on the registry's domain when
   * given (certificate in us-east-1); the registry's public URL is then the front's. Excludes `domain`.
   */
  front?: { domain?: { name: string; certificateArn: string } };
}

export class RegistryApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly registryFunction: nodejs.NodejsFunction;
  readonly sweepFunction: nodejs.NodejsFunction;
  readonly front: ChallengeFront | undefined;
  readonly url: string;

  constructor(scope: Construct, id: string, props: RegistryApiProps) {
    super(scope, id);
    const { storage } = props;

    // The sweep reads storage settings only (it serves no requests: no upload links, no token keys).
    const storageEnvironment: Record<string, string> = {
      [LAMBDA_ENV.bucket]: storage.bucket.bucketName,
      [LAMBDA_ENV.table]: storage.table.tableName,
      [LAMBDA_ENV.presignSeconds]: String(props.presignSeconds),
      [LAMBDA_ENV.uploadTtlSeconds]: String(props.uploadTtlSeconds),
    };
    // Secrets go by ARN, read once per container, so no value sits in the function's configuration.
    const environment: Record<string, string> = {
      ...storageEnvironment,
      [LAMBDA_ENV.multiTenant]: "true",
      [LAMBDA_ENV.tokenSecretsArn]: props.auth.tokenSecrets.secretArn,
      [LAMBDA_ENV.adminTokenArn]: props.auth.adminToken.secretArn,
      ...(props.upload
        ? { [LAMBDA_ENV.uploadUrl]: props.upload.url, [LAMBDA_ENV.uploadTokenSecretArn]: props.upload.tokenSecret.secretArn }
        : {}),
    };

    this.registryFunction = this.registryLambda("Registry", {
      handler: "handler",
      memorySize: REGISTRY_MEMORY_MB,
      timeout: Duration.seconds(REGISTRY_TIMEOUT_SECONDS),
      description: "Stratus registry: the OCI distribution API",
      environment,
      access: "registry",
      props,
    });
    this.sweepFunction = this.registryLambda("UploadSweep", {
      // The same bundle; `sweep` expires idle upload sessions (core's sweep, docs/dynamodb.md "Upload sessions").
      handler: "sweep",
      memorySize: 512,
      timeout: Duration.minutes(5),
      description: "Stratus registry: expires idle upload sessions and their staged S3 parts",
      environment: storageEnvironment,
      access: "sweep",
      props,
    });
    // Only the registry function reads secrets: it signs upload links with the key the upload service
    // verifies them with, and signs and verifies tokens. The sweep gets no grant.
    props.upload?.tokenSecret.grantRead(this.registryFunction);
    props.auth.tokenSecrets.grantRead(this.registryFunction);
    props.auth.adminToken.grantRead(this.registryFunction);
    // Every 5 minutes: an expired session's S3 parts and its place in its tenant's limits go within
    // minutes (each run removes them all, page after page, within the function's 5-minute timeout).
    new events.Rule(this, "UploadSweepSchedule", {
      description: "Every 5 minutes: expire idle upload sessions",
      schedule: events.Schedule.rate(Duration.minutes(SWEEP_INTERVAL_MINUTES)),
      targets: [new targets.LambdaFunction(this.sweepFunction, { retryAttempts: 0 })],
    });

    const accessLogs = new logs.LogGroup(this, "AccessLogs", { retention: props.logRetention, removalPolicy: props.removalPolicy });
    this.api = new apigw.HttpApi(this, "Api", {
      description: "Stratus registry",
      // A custom domain replaces the execute-api URL; keep both reachable so a broken domain setup is debuggable.
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration("Registry", this.registryFunction, {
      payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
    });
    // DESIGN.md "Shape": repository names contain slashes; one catch-all reaches the registry's own router
    // (/v2/..., /token, /admin/v1). `$default` also answers what the router rejects with an OCI error, not API Gateway's 404.
    this.api.addRoutes({ path: "/{proxy+}", methods: [apigw.HttpMethod.ANY], integration });
    this.api.addRoutes({ path: "/", methods: [apigw.HttpMethod.ANY], integration });
    Validations.of(this.api).acknowledge({
      id: "AwsSolutions-APIG4",
      reason:
        "The registry authenticates itself (DESIGN.md 'Auth': Docker token flow); a gateway authorizer would answer 401 without the WWW-Authenticate challenge clients need, and anonymous pulls of public repositories must reach the registry.",
    });

    let domainName: apigw.DomainName | undefined;
    if (props.domain) {
      domainName = new apigw.DomainName(this, "Domain", {
        domainName: props.domain.name,
        certificate: acm.Certificate.fromCertificateArn(this, "Certificate", props.domain.certificateArn),
        securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      });
    }
    const stage = new apigw.HttpStage(this, "DefaultStage", {
      httpApi: this.api,
      stageName: "$default",
      autoDeploy: true,
      ...(domainName ? { domainMapping: { domainName } } : {}),
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            ip: "$context.identity.sourceIp",
            time: "$context.requestTimeEpoch",
            method: "$context.httpMethod",
            path: "$context.path",
            status: "$context.status",
            length: "$context.responseLength",
            latencyMs: "$context.responseLatency",
            integrationError: "$context.integrationErrorMessage",
          }),
        ),
      },
    });
    if (props.front && props.domain) throw new Error("the registry's domain is either the API's or the challenge front's, not both");
    this.front = props.front ? new ChallengeFront(this, "Front", { api: this.api, ...(props.front.domain ? { domain: props.front.domain } : {}) }) : undefined;
    if (this.front) {
      // Behind the front the function sees the API's own Host (CloudFront forwards every header but Host),
      // so the challenge's realm would send clients around the front: name the front's. The service stays
      // the default "stratus", a name rather than a host (tokens, and refresh tokens clients keep, name it).
      this.registryFunction.addEnvironment(LAMBDA_ENV.tokenRealm, `${this.front.url}/token`);
    }
    this.url = this.front ? this.front.url : props.domain ? `https://${props.domain.name}` : stage.url.replace(/\/$/, "");

    new CfnOutput(Stack.of(this), "RegistryUrl", { value: this.url, description: "The registry: docker login / push / pull against this host" });
    new CfnOutput(Stack.of(this), "ApiEndpoint", { value: this.api.apiEndpoint, description: "The execute-api endpoint (works without the custom domain)" });
    new CfnOutput(Stack.of(this), "RegistryFunctionName", {
      value: this.registryFunction.functionName,
      description: "The registry Lambda: after putting a new secret value, update its configuration to start fresh containers (docs/deploy.md)",
    });
    if (domainName) {
      new CfnOutput(Stack.of(this), "RegistryDomainTarget", {
        value: domainName.regionalDomainName,
        description: `DNS: point ${props.domain?.name} (CNAME or alias) at this name`,
      });
    }
  }

  private registryLambda(
    id: string,
    o: {
      handler: string;
      memorySize: number;
      timeout: Duration;
      description: string;
      environment: Record<string, string>;
      /** registry: what serving requests needs; sweep: only what expiring upload sessions needs. */
      access: "registry" | "sweep";
      props: RegistryApiProps;
    },
  ): nodejs.NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: o.props.logRetention, removalPolicy: o.props.removalPolicy });
    // An explicit role instead of the default one with the managed AWSLambdaBasicExecutionRole
    // (logs on every log group of the account): this role writes to its own log group only.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `Stratus ${id} function`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: "OwnLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [logGroup.logGroupArn] }),
    );
    if (o.access === "registry") {
      o.props.storage.grantRegistryAccess(role);
      acknowledgeObjectWildcard(role.node.findChild("DefaultPolicy"), o.props.storage);
    } else {
      o.props.storage.grantSweepAccess(role);
      acknowledgeSweepWildcards(role.node.findChild("DefaultPolicy"), o.props.storage);
    }

    const fn = new nodejs.NodejsFunction(this, id, {
      // Entry, runtime, architecture and bundling: lambda-bundling.ts, shared with `npm run build`.
      ...LAMBDA_BUILD,
      handler: o.handler,
      memorySize: o.memorySize,
      timeout: o.timeout,
      description: o.description,
      environment: o.environment,
      role,
      logGroup,
      // Tracing is left off until there is something to trace.
    });
    Validations.of(fn).acknowledge({
      id: "AwsSolutions-L1",
      reason: "nodejs22.x is the runtime the project pins and tests on (DESIGN.md 'Deploy'); moving to nodejs24.x is a deliberate upgrade, not a deploy-time default.",
    });
    return fn;
  }
}
