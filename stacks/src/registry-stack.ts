import { RemovalPolicy, Stack, type StackProps, Tags } from "aws-cdk-lib";
import type * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { AuthSecrets } from "./auth-secrets.ts";
import { RegistryApi } from "./registry-api.ts";
import { RegistryStorage } from "./storage.ts";
import { UploadService, type UploadServiceProps } from "./upload-service.ts";

// One Stratus deployment: storage, multi-tenant mode's secrets, the registry API on Lambda, and
// (optionally) the upload service.

/** A stage's settings, as infra/stages.ts validates them. */
export interface RegistryStageSettings {
  name: string;
  /** registry.example.com; needs certificateArn (ACM, same region) covering it and, with the upload service, upload.<domainName>. */
  domainName?: string;
  certificateArn?: string;
  /**
   * CloudFront before the HTTP API, restoring the 401's WWW-Authenticate (challenge-front.ts). With
   * domainName it serves that name with certificateArn here, which must be in us-east-1; the API then
   * keeps its execute-api URL only (the stage's certificateArn serves upload.<domainName> alone).
   */
  challengeFront?: { certificateArn?: string };
  uploadService: {
    enabled: boolean;
    image: UploadServiceProps["image"];
    minTasks: number;
    maxTasks: number;
    cpu: number;
    memoryMiB: number;
  };
  logRetention: logs.RetentionDays;
  presignSeconds: number;
  uploadTtlSeconds: number;
  /** Point-in-time recovery window of the table, and as long S3 keeps deleted blob bytes (noncurrent versions). */
  recoveryWindowDays: number;
  /** Contents outlive a stack deletion (production). */
  retainData: boolean;
}

export interface RegistryStackProps extends StackProps {
  settings: RegistryStageSettings;
}

export class RegistryStack extends Stack {
  readonly storage: RegistryStorage;
  readonly auth: AuthSecrets;
  readonly api: RegistryApi;
  readonly uploadService: UploadService | undefined;

  constructor(scope: Construct, id: string, props: RegistryStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const removalPolicy = s.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const domain = (prefix: string) => (s.domainName && s.certificateArn ? { name: `${prefix}${s.domainName}`, certificateArn: s.certificateArn } : undefined);
    Tags.of(this).add("stratus:stage", s.name);

    this.storage = new RegistryStorage(this, "Storage", {
      removalPolicy,
      // Sessions expire after uploadTtlSeconds and the sweep runs every few minutes: two days past that.
      abortIncompleteUploadsAfterDays: Math.ceil(s.uploadTtlSeconds / 86_400) + 2,
      recoveryWindowDays: s.recoveryWindowDays,
    });

    // Multi-tenant mode, always: without it a deployment would be open to anyone who finds its URL.
    this.auth = new AuthSecrets(this, "Auth", { removalPolicy });

    const uploadDomain = domain("upload.");
    // DESIGN.md: upload links carry their own tokens and layers are private: the service is HTTPS only
    // (infra/stages.ts refuses the stage earlier, naming the settings; this guards other callers).
    if (s.uploadService.enabled && !uploadDomain) {
      throw new Error(`stage ${s.name}: the upload service needs domainName and certificateArn (it serves HTTPS only, on upload.<domainName>)`);
    }
    this.uploadService = s.uploadService.enabled && uploadDomain
      ? new UploadService(this, "Upload", {
          storage: this.storage,
          image: s.uploadService.image,
          minTasks: s.uploadService.minTasks,
          maxTasks: s.uploadService.maxTasks,
          cpu: s.uploadService.cpu,
          memoryMiB: s.uploadService.memoryMiB,
          logRetention: s.logRetention,
          removalPolicy,
          presignSeconds: s.presignSeconds,
          uploadTtlSeconds: s.uploadTtlSeconds,
          tokenSecrets: this.auth.tokenSecrets,
          domain: uploadDomain,
        })
      : undefined;

    const front = s.challengeFront;
    if (front && s.domainName && !front.certificateArn) {
      throw new Error(`stage ${s.name}: the challenge front serves ${s.domainName} through CloudFront: give frontCertificateArn, an ACM certificate in us-east-1 covering it`);
    }
    const apiDomain = front ? undefined : domain("");
    this.api = new RegistryApi(this, "Registry", {
      storage: this.storage,
      logRetention: s.logRetention,
      removalPolicy,
      presignSeconds: s.presignSeconds,
      uploadTtlSeconds: s.uploadTtlSeconds,
      auth: { tokenSecrets: this.auth.tokenSecrets, adminToken: this.auth.adminToken },
      ...(this.uploadService ? { upload: { url: this.uploadService.url, tokenSecret: this.uploadService.tokenSecret } } : {}),
      ...(apiDomain ? { domain: apiDomain } : {}),
      ...(front ? { front: s.domainName && front.certificateArn ? { domain: { name: s.domainName, certificateArn: front.certificateArn } } : {} } : {}),
    });
  }
}
