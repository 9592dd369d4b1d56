import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { z } from "zod";
import type { RegistryStageSettings } from "../stacks/src/index.ts";

// Deploy settings per stage, validated once when the CDK app starts. Pick one with `-c stage=<name>`.
// What differs per operator (domain, certificate, how the upload image is built) is not written here:
// it comes from CDK context or the environment (infra/app.ts, docs/deploy.md), and a stage that
// needs a setting nobody gave fails synth naming each one. No placeholder reaches a template.

const retentionValues = new Set<number>(Object.values(RetentionDays).filter((v): v is number => typeof v === "number"));

/**
 * Presigned S3 URLs die with the credentials that signed them, whatever their own lifetime says
 * (DESIGN.md "Found since"). The registry signs with a Lambda or task role, whose temporary
 * credentials the SDK replaces minutes before they expire (role sessions last 1 to 12 hours):
 * promising more than an hour would promise what the credentials cannot keep.
 */
export const MAX_PRESIGN_SECONDS = 3600;

/** Where the upload service's image comes from (`-c uploadImage=...`); docs/deploy.md "Upload service image". */
export const UPLOAD_IMAGE_SOURCES = {
  /** Built in AWS at deploy time by CodeBuild (@cdklabs/deploy-time-build): needs only AWS credentials. The default. */
  codebuild: "codebuild",
  /** Built by the Docker on the operator's machine and pushed to the CDK bootstrap ECR repository. */
  local: "local",
  /** The older name of `local`. */
  build: "local",
} as const;
export type UploadImageSource = (typeof UPLOAD_IMAGE_SOURCES)[keyof typeof UPLOAD_IMAGE_SOURCES];

/** How each operator setting is given: CDK context first, then the environment. */
export const OPERATOR_SETTINGS = {
  domainName: { context: "domainName", env: "STRATUS_DOMAIN_NAME", example: "registry.example.com" },
  certificateArn: { context: "certificateArn", env: "STRATUS_CERTIFICATE_ARN", example: "arn:aws:acm:<region>:<account>:certificate/<id>" },
  uploadImage: { context: "uploadImage", env: "STRATUS_UPLOAD_IMAGE", example: "codebuild" },
  challengeFront: { context: "challengeFront", env: "STRATUS_CHALLENGE_FRONT", example: "true" },
  frontCertificateArn: { context: "frontCertificateArn", env: "STRATUS_FRONT_CERTIFICATE_ARN", example: "arn:aws:acm:us-east-1:<account>:certificate/<id>" },
} as const;
export type OperatorSettings = { -readonly [K in keyof typeof OPERATOR_SETTINGS]?: string };

const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[0-9a-f-]+$/;

export const stageSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,20}$/),
    /** Omitted: the account of the credentials in use (CDK_DEFAULT_ACCOUNT). */
    account: z.string().regex(/^\d{12}$/).optional(),
    region: z.string().min(1),
    /** registry.example.com. The upload service then lives on upload.registry.example.com. */
    domainName: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, "must be a DNS name such as registry.example.com").optional(),
    /** ACM certificate in `region` for domainName and upload.<domainName> (a SAN or a wildcard). */
    certificateArn: z.string().regex(CERTIFICATE_ARN, "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)").optional(),
    uploadService: z.object({
      enabled: z.boolean(),
      minTasks: z.number().int().min(1),
      maxTasks: z.number().int().min(1),
      /** Fargate sizes: 256 = 0.25 vCPU. */
      cpu: z.number().int().default(512),
      memoryMiB: z.number().int().default(1024),
    }),
    logRetentionDays: z.number().int().refine((d) => retentionValues.has(d), "must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 180, 365, ...)"),
    presignSeconds: z.number().int().min(1).max(MAX_PRESIGN_SECONDS, `at most ${MAX_PRESIGN_SECONDS}: presigned URLs die with the role credentials that signed them`).default(900),
    uploadTtlSeconds: z.number().int().positive().default(24 * 3600),
    /**
     * Days the table can be restored back (DynamoDB point-in-time recovery, 1 to 35) and, as long,
     * days S3 keeps a deleted or replaced object's bytes (noncurrent versions): a restored table
     * never points at a blob whose bytes are gone.
     */
    recoveryWindowDays: z.number().int().min(1).max(35).default(35),
    /**
     * A CloudFront distribution before the HTTP API whose Lambda@Edge function renames a 401's
     * x-amzn-Remapped-WWW-Authenticate back to WWW-Authenticate (docs/lambda.md "Unsettled gateway
     * behaviours"). Off by default: turn it on when `stratus doctor` reports the renamed challenge.
     */
    challengeFront: z.boolean().default(false),
    /** With challengeFront and domainName: ACM certificate in us-east-1 (CloudFront's region) for domainName. */
    frontCertificateArn: z.string().regex(CERTIFICATE_ARN, "must be an ACM certificate ARN (arn:aws:acm:us-east-1:<account>:certificate/<id>)").optional(),
    /** Keep the bucket, table and logs when the stack is deleted (and protect the table from deletion). */
    retainData: z.boolean(),
  })
  .superRefine((s, ctx) => {
    // With the front, the registry's domain is CloudFront's (frontCertificateArn); certificateArn then serves upload.<domainName> only.
    if (!s.uploadService.enabled && !s.challengeFront && !s.domainName !== !s.certificateArn) {
      ctx.addIssue({ code: "custom", path: [s.domainName ? "certificateArn" : "domainName"], message: "domainName and certificateArn go together" });
    }
    // DESIGN.md: upload links carry their own tokens, and layers are private: never over plain HTTP.
    if (s.uploadService.enabled) {
      for (const key of ["domainName", "certificateArn"] as const) {
        if (!s[key]) ctx.addIssue({ code: "custom", path: [key], message: "missing: the upload service serves HTTPS only, on upload.<domainName> with this certificate" });
      }
    }
    const region = s.certificateArn ? CERTIFICATE_ARN.exec(s.certificateArn)?.[1] : undefined;
    if (region && region !== s.region) {
      ctx.addIssue({ code: "custom", path: ["certificateArn"], message: `the certificate is in ${region}; API Gateway and the load balancer need one in the stage's region ${s.region}` });
    }
    if (s.challengeFront && s.domainName && !s.frontCertificateArn) {
      ctx.addIssue({ code: "custom", path: ["frontCertificateArn"], message: `missing: the challenge front (CloudFront) serves ${s.domainName} with an ACM certificate in us-east-1 covering it` });
    }
    if (s.frontCertificateArn && !(s.challengeFront && s.domainName)) {
      ctx.addIssue({ code: "custom", path: ["frontCertificateArn"], message: "only used with challengeFront and domainName" });
    }
    const frontRegion = s.frontCertificateArn ? CERTIFICATE_ARN.exec(s.frontCertificateArn)?.[1] : undefined;
    if (frontRegion && frontRegion !== "us-east-1") {
      ctx.addIssue({ code: "custom", path: ["frontCertificateArn"], message: `the certificate is in ${frontRegion}; CloudFront takes certificates from us-east-1 only` });
    }
    if (s.uploadService.minTasks > s.uploadService.maxTasks) ctx.addIssue({ code: "custom", path: ["uploadService"], message: "minTasks > maxTasks" });
  });
export type StageInput = z.input<typeof stageSchema>;
export type Stage = z.infer<typeof stageSchema>;

export const STAGES: Record<string, StageInput> = {
  // A developer's own deployment: no domain, no upload service (uploads go through Lambda in chunks), data disposable.
  dev: {
    name: "dev",
    region: "eu-west-1",
    uploadService: { enabled: false, minTasks: 1, maxTasks: 2 },
    logRetentionDays: 14,
    recoveryWindowDays: 7,
    retainData: false,
  },
  // Production: custom domain (given at deploy: -c domainName=... -c certificateArn=...), upload service, data retained.
  prod: {
    name: "prod",
    region: "eu-west-1",
    uploadService: { enabled: true, minTasks: 2, maxTasks: 10, cpu: 1024, memoryMiB: 2048 },
    logRetentionDays: 90,
    retainData: true,
  },
};

/** The operator settings from CDK context (`-c name=value`) or, failing that, the environment. */
export function operatorSettings(context: (key: string) => unknown, env: NodeJS.ProcessEnv): OperatorSettings {
  const out: OperatorSettings = {};
  for (const [key, s] of Object.entries(OPERATOR_SETTINGS) as [keyof OperatorSettings, (typeof OPERATOR_SETTINGS)[keyof OperatorSettings]][]) {
    const value = context(s.context) ?? env[s.env];
    if (value !== undefined && value !== "") out[key] = String(value);
  }
  return out;
}

/** `-c challengeFront=true` (or false): anything else is left for the schema to refuse. */
const parseFlag = (value: string): boolean | string => (value === "true" ? true : value === "false" ? false : value);

/**
 * The named stage with the operator's settings, validated, as the stack takes it. Throws one
 * message naming every missing or invalid setting and how to give it.
 */
export function stageSettings(name: string, options: OperatorSettings & { repoRoot: string }): { stage: Stage; settings: RegistryStageSettings } {
  const input = STAGES[name];
  if (!input) throw new Error(`unknown stage "${name}": one of ${Object.keys(STAGES).join(", ")} (-c stage=<name>)`);
  const source = options.uploadImage ?? "codebuild";
  if (!Object.hasOwn(UPLOAD_IMAGE_SOURCES, source)) {
    throw new Error(`stage ${name}: uploadImage "${source}" is not one of codebuild (build in AWS, the default), local (build with this machine's Docker)`);
  }
  const imageSource = UPLOAD_IMAGE_SOURCES[source as keyof typeof UPLOAD_IMAGE_SOURCES];
  const parsed = stageSchema.safeParse({
    ...input,
    ...(options.domainName ? { domainName: options.domainName } : {}),
    ...(options.certificateArn ? { certificateArn: options.certificateArn } : {}),
    ...(options.challengeFront ? { challengeFront: parseFlag(options.challengeFront) } : {}),
    ...(options.frontCertificateArn ? { frontCertificateArn: options.frontCertificateArn } : {}),
  });
  if (!parsed.success) {
    const how = (key: string) => {
      const s = OPERATOR_SETTINGS[key as keyof typeof OPERATOR_SETTINGS];
      return s ? ` (-c ${s.context}=${s.example}, or ${s.env})` : "";
    };
    const problems = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}${how(String(i.path[0]))}`);
    throw new Error(`stage ${name} cannot be synthesized:\n${problems.join("\n")}\n(docs/deploy.md "Settings")`);
  }
  const stage = parsed.data;
  return {
    stage,
    settings: {
      name: stage.name,
      ...(stage.domainName ? { domainName: stage.domainName } : {}),
      ...(stage.certificateArn ? { certificateArn: stage.certificateArn } : {}),
      ...(stage.challengeFront ? { challengeFront: stage.frontCertificateArn ? { certificateArn: stage.frontCertificateArn } : {} } : {}),
      uploadService: {
        ...stage.uploadService,
        image: { kind: imageSource, directory: options.repoRoot, file: "infra/upload-service/Dockerfile" },
      },
      logRetention: stage.logRetentionDays as RetentionDays,
      presignSeconds: stage.presignSeconds,
      uploadTtlSeconds: stage.uploadTtlSeconds,
      recoveryWindowDays: stage.recoveryWindowDays,
      retainData: stage.retainData,
    },
  };
}
