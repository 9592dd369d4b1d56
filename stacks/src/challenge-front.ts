import { readFileSync } from "node:fs";
import { CfnOutput, Duration, Fn, Stack, Validations } from "aws-cdk-lib";
import type * as apigw from "aws-cdk-lib/aws-apigatewayv2";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import * as origins from "aws-cdk-lib/aws-cloudfront-origins";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";

// The challenge front (infra/stages.ts `challengeFront`): CloudFront before the HTTP API, whose only
// job is to give clients back the 401's WWW-Authenticate when API Gateway renames it
// x-amzn-Remapped-WWW-Authenticate (docs/lambda.md "Unsettled gateway behaviours"). It caches
// nothing and forwards everything but Host; a Lambda@Edge origin-response function renames the
// header. A CloudFront Function cannot: CloudFront runs no viewer-response function when the origin
// answers 400 or more.

/** The handler deployed inline (at most 4 KB): its restoreChallenge is unit-tested (stacks/test/challenge-front.test.ts). */
export const RESTORE_CHALLENGE_SOURCE = new URL("./edge/restore-challenge.cjs", import.meta.url);

/** API Gateway gives up after 30 s; CloudFront waits as long (its default; 60 s at most without a quota increase). */
export const FRONT_ORIGIN_READ_TIMEOUT_SECONDS = 30;

/**
 * Statuses CloudFront caches for 10 s by default even when the cache policy disables caching. A
 * registry answers 404 to a HEAD before the push that creates the manifest or blob, and the GET
 * after it must not see that 404 again: each is cached 0 s.
 */
export const ERROR_STATUSES_CACHED_BY_DEFAULT = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504] as const;

export interface ChallengeFrontProps {
  api: apigw.HttpApi;
  /** The registry's custom domain, served by CloudFront with this ACM certificate (us-east-1). */
  domain?: { name: string; certificateArn: string };
}

export class ChallengeFront extends Construct {
  readonly distribution: cloudfront.Distribution;
  readonly restoreChallenge: cloudfront.experimental.EdgeFunction;
  /** https://registry.example.com, or https://<id>.cloudfront.net without a domain. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ChallengeFrontProps) {
    super(scope, id);

    // Lambda@Edge lives in us-east-1: outside it, CDK deploys the function in a support stack there
    // (edge-lambda-stack-<id>) and reads its version back through an SSM parameter (a custom resource).
    this.restoreChallenge = new cloudfront.experimental.EdgeFunction(this, "RestoreChallenge", {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: "index.handler",
      code: lambda.Code.fromInline(readFileSync(RESTORE_CHALLENGE_SOURCE, "utf8")),
      memorySize: 128,
      timeout: Duration.seconds(5),
      description: "Stratus challenge front: renames x-amzn-Remapped-WWW-Authenticate back to WWW-Authenticate",
    });
    acknowledgeEdgeSupport(this.restoreChallenge);

    // The execute-api host: https://<id>.execute-api.<region>.amazonaws.com → <id>.execute-api.<region>.amazonaws.com
    const apiHost = Fn.select(2, Fn.split("/", props.api.apiEndpoint));
    this.distribution = new cloudfront.Distribution(this, "Distribution", {
      comment: "Stratus registry: restores the 401 challenge header (docs/lambda.md)",
      defaultBehavior: {
        origin: new origins.HttpOrigin(apiHost, {
          protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
          readTimeout: Duration.seconds(FRONT_ORIGIN_READ_TIMEOUT_SECONDS),
        }),
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        // As the upload service: no redirect from http, a redirected PUT would already have sent its credentials.
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        // Host stays the API's own (API Gateway routes on it); the Lambda learns the public URL from STRATUS_TOKEN_REALM.
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        // Layers are compressed already and digests cover the bytes as sent.
        compress: false,
        edgeLambdas: [{ eventType: cloudfront.LambdaEdgeEventType.ORIGIN_RESPONSE, functionVersion: this.restoreChallenge.currentVersion }],
      },
      errorResponses: ERROR_STATUSES_CACHED_BY_DEFAULT.map((httpStatus) => ({ httpStatus, ttl: Duration.seconds(0) })),
      // Without a domain CloudFront's default certificate fixes the viewer policy (TLSv1): nothing to choose.
      ...(props.domain
        ? {
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            domainNames: [props.domain.name],
            certificate: acm.Certificate.fromCertificateArn(this, "Certificate", props.domain.certificateArn),
          }
        : {}),
    });
    this.url = `https://${props.domain?.name ?? this.distribution.distributionDomainName}`;

    Validations.of(this.distribution).acknowledge(
      {
        id: "AwsSolutions-CFR1",
        reason: "A registry serves its tenants wherever they run (CI runners, clusters in any region); who may pull or push is decided by the registry's token auth, not by country.",
      },
      {
        id: "AwsSolutions-CFR2",
        reason: "The front only restores a header; requests are authenticated by the registry (DESIGN.md 'Auth') as without it. A WAF web ACL (a monthly fee plus per request) is the operator's choice, attachable later.",
      },
      {
        id: "AwsSolutions-CFR3",
        reason: "Every request reaches the HTTP API, whose stage writes an access log (registry-api.ts) and the function its own log: CloudFront standard logs would repeat them into a bucket of their own.",
      },
      ...(props.domain
        ? []
        : [
            {
              id: "AwsSolutions-CFR4",
              reason: "Without a custom domain CloudFront serves *.cloudfront.net with its default certificate, whose viewer TLS policy cannot be chosen; with a domain the distribution requires TLSv1.2_2021.",
            },
          ]),
    );

    new CfnOutput(Stack.of(this), "FrontDistributionId", { value: this.distribution.distributionId, description: "The challenge front's CloudFront distribution" });
    if (props.domain) {
      new CfnOutput(Stack.of(this), "FrontDomainTarget", {
        value: this.distribution.distributionDomainName,
        description: `DNS: point ${props.domain.name} (CNAME or Route 53 alias) at this name`,
      });
    }
  }
}

/** cdk-nag findings on what EdgeFunction builds: the function's role in the us-east-1 support stack, and the reader of its version ARN. */
function acknowledgeEdgeSupport(edge: cloudfront.experimental.EdgeFunction): void {
  const edgeStack = Stack.of(edge.lambda);
  // The support stack exists only outside us-east-1; inside it the function is in the stack itself.
  Validations.of(edgeStack === Stack.of(edge) ? edge : edgeStack).acknowledge(
    {
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      reason:
        "Lambda@Edge writes its logs in every region where an edge location runs it (/aws/lambda/us-east-1.<name>), so no single log group ARN scopes them; AWSLambdaBasicExecutionRole is what CloudFront's documentation gives the edge role. The function calls no AWS API.",
    },
    {
      id: "AwsSolutions-L1",
      reason: "nodejs22.x is the runtime the project pins and tests on (DESIGN.md 'Deploy'), as for the registry functions; Lambda@Edge supports it.",
    },
  );
}
