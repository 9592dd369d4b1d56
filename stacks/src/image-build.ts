import type { ContainerImageBuild } from "@cdklabs/deploy-time-build";
import { Stack, Token, Validations } from "aws-cdk-lib";
import { CfnProject } from "aws-cdk-lib/aws-codebuild";
import type { IConstruct } from "constructs";

// What cdk-nag finds in @cdklabs/deploy-time-build's ContainerImageBuild (the upload service's
// image built by CodeBuild at deploy time, upload-service.ts), acknowledged finding by finding.
// The construct makes two stack-level singletons: a custom-resource Lambda that starts the build,
// and the CodeBuild project; its ECR repository is its own child.

/** The singletons' construct ids start with these (uuids of the library's own). */
const HANDLER_PREFIX = "DeployTimeBuildCustomResourceHandler";
const PROJECT_PREFIX = "ContainerImageBuild";

export function acknowledgeDeployTimeBuild(build: ContainerImageBuild): void {
  const stack = Stack.of(build);
  const singletons = (prefix: string): IConstruct[] => stack.node.children.filter((c) => c.node.id.startsWith(prefix));
  const [handler] = singletons(HANDLER_PREFIX);
  const [project] = singletons(PROJECT_PREFIX);
  if (!handler || !project) throw new Error("@cdklabs/deploy-time-build changed its construct ids: review its resources and their cdk-nag findings");

  Validations.of(handler).acknowledge(
    {
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      reason: "The library's custom-resource handler only starts a CodeBuild build at deploy time; the managed policy lets it write its own logs (the library offers no other role).",
    },
    {
      id: "AwsSolutions-L1",
      reason: "The library pins the handler's runtime (nodejs22.x) with its bundled code; it runs a few seconds per deploy and serves no request.",
    },
  );

  const cfnProject = project.node.findAll().find((c): c is CfnProject => c instanceof CfnProject);
  if (!cfnProject) throw new Error("@cdklabs/deploy-time-build made no CodeBuild project");
  const logicalId = stack.getLogicalId(cfnProject);
  // As cdk-nag prints them: a stack without an environment has tokens where the account and region go.
  const region = Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region;
  const account = Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account;
  Validations.of(project).acknowledge(
    {
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly]",
      reason: "The build pulls its Node base image from ECR Public (upload-service.ts): this read-only managed policy is exactly that.",
    },
    {
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "Only ecr:GetAuthorizationToken is granted on '*': ECR's GetAuthorizationToken supports no resource-level permission; pushes go to the build's own repository.",
    },
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${region}:${account}:log-group:/aws/codebuild/<${logicalId}>:*]`,
      reason: "CodeBuild's default grant: the log streams of this project's own log group.",
    },
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:${region}:${account}:report-group/<${logicalId}>-*]`,
      reason: "CodeBuild's default grant: report groups named after this project only (the build writes none).",
    },
    ...["s3:GetObject*", "s3:GetBucket*", "s3:List*"].map((action) => ({
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: "The CDK asset grant (Asset.grantRead): reading the zipped build context from the CDK bootstrap assets bucket, that bucket only.",
    })),
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-${account}-${region}/*]`,
      reason: "The CDK asset grant: the build context is an object of the bootstrap assets bucket whose key is known only at publish time.",
    },
    {
      id: "AwsSolutions-CB4",
      reason: "The project builds a public-source image from the repository's own code; its artifacts are encrypted with the AWS-managed S3 key, and a customer key would add cost for no secret.",
    },
  );
}
