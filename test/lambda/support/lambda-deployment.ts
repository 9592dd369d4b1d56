import { LAMBDA_ENV } from "../../../packages/lambda/src/config.ts";
import { createRegistryHandler } from "../../../packages/lambda/src/registry-handler.ts";
import type { RequestLogSink } from "../../../packages/lambda/src/request-log.ts";
import { serverOptionsSchema, startServer, type RunningServer, type ServerOptionsInput } from "@stratus/server";
import { awsBackends, freshBucketAndTable } from "../../aws/support/backends.ts";
import { startApiGatewayEmulator, type EmulatorOptions, type RunningEmulator } from "./api-gateway-emulator.ts";

export interface LambdaDeploymentOptions {
  uploadTtlSeconds?: number;
  /** More of the function's environment (the upload service's URL and key). */
  env?: NodeJS.ProcessEnv;
  emulator?: Omit<EmulatorOptions, "handler">;
  /** Where the function's request log lines go; none by default (tests stay quiet). */
  log?: RequestLogSink;
}

export interface LambdaDeployment extends RunningEmulator {
  /** The function's environment, as the CDK stack would set it (names from config.ts). */
  env: NodeJS.ProcessEnv;
}

/**
 * The registry Lambda behind the API Gateway emulation, on a fresh bucket and table of the run's radosgw
 * and DynamoDB Local. Each deployment is a new "container": its own handler, built from its own
 * environment. Credentials reach the SDK the usual way, through process.env (as on Lambda).
 */
export async function startLambdaDeployment(options: LambdaDeploymentOptions = {}): Promise<LambdaDeployment> {
  const { bucket, table, backends } = await freshBucketAndTable("stratus-lambda");
  const env: NodeJS.ProcessEnv = {
    AWS_REGION: backends.region,
    [LAMBDA_ENV.bucket]: bucket,
    [LAMBDA_ENV.table]: table,
    [LAMBDA_ENV.s3Endpoint]: backends.s3Endpoint,
    [LAMBDA_ENV.dynamodbEndpoint]: backends.dynamoEndpoint,
    ...(options.uploadTtlSeconds !== undefined ? { [LAMBDA_ENV.uploadTtlSeconds]: String(options.uploadTtlSeconds) } : {}),
    ...options.env,
  };
  const emulator = await startApiGatewayEmulator({ ...options.emulator, handler: createRegistryHandler(env, options.log ?? (() => {})) });
  return { ...emulator, env };
}

/**
 * The upload service beside a deployment: the Node server on the deployment's bucket and table,
 * answering upload links signed with `uploadTokenSecret` at `uploadUrl` (a free loopback port).
 */
export async function startUploadService(
  deployment: LambdaDeployment,
  uploadUrl: string,
  uploadTokenSecret: string,
  options: Partial<ServerOptionsInput> = {},
): Promise<RunningServer> {
  const b = awsBackends();
  return startServer(
    serverOptionsSchema.parse({
      port: Number(new URL(uploadUrl).port),
      logLevel: "silent",
      storage: "aws",
      bucket: deployment.env[LAMBDA_ENV.bucket],
      table: deployment.env[LAMBDA_ENV.table],
      region: b.region,
      s3Endpoint: b.s3Endpoint,
      dynamodbEndpoint: b.dynamoEndpoint,
      uploadUrl,
      uploadTokenSecret,
      ...options,
    }),
  );
}
