import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { z } from "zod";
import type { RegistryStageSettings } from "../stacks/src/index.ts";

// Deploy settings per stage, validated once when the CDK app starts. Pick one with `-c stage=<name>`.

const retentionValues = new Set<number>(Object.values(RetentionDays).filter((v): v is number => typeof v === "number"));

export const stageSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,20}$/),
    /** Omitted: the account of the credentials in use (CDK_DEFAULT_ACCOUNT). */
    account: z.string().regex(/^\d{12}$/).optional(),
    region: z.string().min(1),
    /** registry.example.com. The upload service then lives on upload.registry.example.com. */
    domainName: z.string().min(3).optional(),
    /** ACM certificate in `region` for domainName and upload.<domainName> (a SAN or a wildcard). */
    certificateArn: z.string().startsWith("arn:aws").optional(),
    uploadService: z.object({
      enabled: z.boolean(),
      /** A published image of infra/upload-service/Dockerfile (linux/arm64); `-c uploadImage=build` builds it locally instead. */
      image: z.string().min(1),
      minTasks: z.number().int().min(1),
      maxTasks: z.number().int().min(1),
      /** Fargate sizes: 256 = 0.25 vCPU. */
      cpu: z.number().int().default(512),
      memoryMiB: z.number().int().default(1024),
    }),
    logRetentionDays: z.number().int().refine((d) => retentionValues.has(d), "must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 180, 365, ...)"),
    presignSeconds: z.number().int().min(1).max(7 * 24 * 3600).default(900),
    uploadTtlSeconds: z.number().int().positive().default(24 * 3600),
    /** Keep the bucket, table and logs when the stack is deleted (and protect the table from deletion). */
    retainData: z.boolean(),
  })
  .refine((s) => !s.domainName === !s.certificateArn, { message: "domainName and certificateArn go together", path: ["certificateArn"] })
  .refine((s) => s.uploadService.minTasks <= s.uploadService.maxTasks, { message: "minTasks > maxTasks", path: ["uploadService"] });
export type StageInput = z.input<typeof stageSchema>;
export type Stage = z.infer<typeof stageSchema>;

export const STAGES: Record<string, StageInput> = {
  // A developer's own deployment: no domain, no upload service (uploads go through Lambda in chunks), data disposable.
  dev: {
    name: "dev",
    region: "eu-west-1",
    uploadService: { enabled: false, image: "ghcr.io/stratus-registry/upload-service:latest", minTasks: 1, maxTasks: 2 },
    logRetentionDays: 14,
    retainData: false,
  },
  // Production: custom domain, upload service, data retained. Replace the placeholders before deploying.
  prod: {
    name: "prod",
    region: "eu-west-1",
    domainName: "registry.example.com",
    certificateArn: "arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000",
    uploadService: { enabled: true, image: "ghcr.io/stratus-registry/upload-service:0.1.0", minTasks: 2, maxTasks: 10, cpu: 1024, memoryMiB: 2048 },
    logRetentionDays: 90,
    retainData: true,
  },
};

/** The named stage, validated, as the stack takes it. `buildImage`: build the upload service image from infra/upload-service (needs Docker). */
export function stageSettings(name: string, options: { buildImage?: boolean; repoRoot: string }): { stage: Stage; settings: RegistryStageSettings } {
  const input = STAGES[name];
  if (!input) throw new Error(`unknown stage "${name}": one of ${Object.keys(STAGES).join(", ")} (-c stage=<name>)`);
  const parsed = stageSchema.safeParse(input);
  if (!parsed.success) throw new Error(`stage ${name}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const stage = parsed.data;
  const { image, ...service } = stage.uploadService;
  return {
    stage,
    settings: {
      name: stage.name,
      ...(stage.domainName ? { domainName: stage.domainName } : {}),
      ...(stage.certificateArn ? { certificateArn: stage.certificateArn } : {}),
      uploadService: {
        ...service,
        image: options.buildImage ? { kind: "asset", directory: options.repoRoot, file: "infra/upload-service/Dockerfile" } : { kind: "registry", uri: image },
      },
      logRetention: stage.logRetentionDays as RetentionDays,
      presignSeconds: stage.presignSeconds,
      uploadTtlSeconds: stage.uploadTtlSeconds,
      retainData: stage.retainData,
    },
  };
}
