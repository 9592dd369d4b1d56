import { z } from "zod";

// The environment the registry Lambda reads, once per container. The CDK stack sets exactly these
// (stacks/ imports LAMBDA_ENV to name them); the template tests check the two agree.
export const LAMBDA_ENV = {
  bucket: "STRATUS_S3_BUCKET",
  table: "STRATUS_DYNAMODB_TABLE",
  presignSeconds: "STRATUS_PRESIGN_SECONDS",
  uploadTtlSeconds: "STRATUS_UPLOAD_TTL_SECONDS",
  /** Base URL of the upload service (https://upload.example.com); absent: uploads stay in Lambda. */
  uploadUrl: "STRATUS_UPLOAD_URL",
  /** Secrets Manager ARN of the key that signs upload links (shared with the upload service). */
  uploadTokenSecretArn: "STRATUS_UPLOAD_TOKEN_SECRET_ARN",
  /** The key itself, for the emulator and tests; on AWS use the ARN, so the key never sits in the function's configuration. */
  uploadTokenSecret: "STRATUS_UPLOAD_TOKEN_SECRET",
  /** "true": tenants, token auth, quotas and the admin API (DESIGN.md "Tenancy", "Auth"). */
  multiTenant: "STRATUS_MULTI_TENANT",
  /** "true": serve a table created in the other tenancy mode anyway (core services/tenancy-mode.ts); never set by the stack. */
  acceptModeChange: "STRATUS_ACCEPT_MODE_CHANGE",
  /** Secrets Manager ARN of the token signing secrets (whitespace-separated, the first signs). */
  tokenSecretsArn: "STRATUS_TOKEN_SECRETS_ARN",
  tokenSecrets: "STRATUS_TOKEN_SECRETS",
  /** Secrets Manager ARN of the operator's bootstrap token for the admin API. */
  adminTokenArn: "STRATUS_ADMIN_TOKEN_ARN",
  adminToken: "STRATUS_ADMIN_TOKEN",
  /** The `service` in challenges and tokens, and the public URL of /token (default: from the request). */
  authService: "STRATUS_AUTH_SERVICE",
  tokenRealm: "STRATUS_TOKEN_REALM",
  /**
   * "true": a blob HEAD answers 307 to a presigned S3 HEAD URL, for a gateway that drops a HEAD answer's
   * Content-Length (docs/lambda.md "Unsettled gateway behaviours"; `stratus doctor` tells).
   */
  headRedirect: "STRATUS_HEAD_REDIRECT",
  /** "silent" (or warn, error) turns off the one JSON line per request; default info. */
  logLevel: "STRATUS_LOG_LEVEL",
  /** Test and emulator overrides; unset on AWS. */
  s3Endpoint: "STRATUS_S3_ENDPOINT",
  dynamodbEndpoint: "STRATUS_DYNAMODB_ENDPOINT",
} as const;

export const lambdaConfigSchema = z.object({
  bucket: z.string().min(3),
  table: z.string().min(3),
  region: z.string().min(1),
  presignSeconds: z.coerce.number().int().min(1).max(7 * 24 * 3600).default(900),
  uploadTtlSeconds: z.coerce.number().int().positive().default(24 * 3600),
  uploadUrl: z.url().optional(),
  uploadTokenSecretArn: z.string().startsWith("arn:").optional(),
  uploadTokenSecret: z.string().min(32, "must be at least 32 characters").optional(),
  multiTenant: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  acceptModeChange: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  headRedirect: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  tokenSecretsArn: z.string().startsWith("arn:").optional(),
  tokenSecrets: z.string().min(32).optional(),
  adminTokenArn: z.string().startsWith("arn:").optional(),
  adminToken: z.string().min(32, "must be at least 32 characters").optional(),
  authService: z.string().min(1).max(255).optional(),
  tokenRealm: z.url().optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  s3Endpoint: z.url().optional(),
  dynamodbEndpoint: z.url().optional(),
});
export type LambdaConfig = z.infer<typeof lambdaConfigSchema>;

const withUploadKey = lambdaConfigSchema
  .refine((c) => !c.uploadUrl || c.uploadTokenSecretArn || c.uploadTokenSecret, {
    message: `an upload URL needs ${LAMBDA_ENV.uploadTokenSecretArn} (or ${LAMBDA_ENV.uploadTokenSecret})`,
    path: ["uploadUrl"],
  })
  .refine((c) => !c.multiTenant || c.tokenSecretsArn || c.tokenSecrets, {
    message: `multi-tenant mode needs ${LAMBDA_ENV.tokenSecretsArn} (or ${LAMBDA_ENV.tokenSecrets})`,
    path: ["multiTenant"],
  });

/** Reads the Lambda's configuration; throws naming every missing or malformed variable. */
export function readLambdaConfig(env: NodeJS.ProcessEnv): LambdaConfig {
  const input: Record<string, string | undefined> = { region: env.AWS_REGION };
  for (const [key, name] of Object.entries(LAMBDA_ENV)) if (env[name]) input[key] = env[name];
  const result = withUploadKey.safeParse(input);
  if (!result.success) {
    const names: Record<string, string> = { ...LAMBDA_ENV, region: "AWS_REGION" };
    throw new Error(`invalid Lambda environment: ${result.error.issues.map((i) => `${names[String(i.path[0])] ?? i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return result.data;
}
