import { z } from "zod";

// Registry settings, parsed once at start-up by the entry adapter and handed to createRegistry.
export const registryConfigSchema = z.object({
  /**
   * "single": one tenant owns every repository (the local default, like `docker run registry:2`).
   * "namespace": the first path component is the tenant (DESIGN.md "Tenancy").
   */
  tenancy: z.enum(["single", "namespace"]).default("single"),
  /** An upload session idle this long expires and its bytes are reclaimed. */
  uploadTtlSeconds: z.number().int().positive().default(24 * 3600),
  /** distribution-spec: registries may bound manifest size; 4 MiB like the CNCF registry and ECR. */
  maxManifestBytes: z.number().int().positive().default(4 * 1024 * 1024),
  /** Advertised as OCI-Chunk-Min-Length; the AWS store raises it to S3's 5 MiB part minimum. */
  chunkMinLength: z.number().int().positive().default(1024 * 1024),
  /**
   * Save each upload's SHA-256 state with its session so any process can take the next chunk
   * (Lambda). Off: the state stays in process memory, ~10x faster to compute (local server).
   */
  resumableHashing: z.boolean().default(false),
  /**
   * Blob HEAD answers 307 to the store's HEAD URL (a presigned S3 HeadObject, which carries the true
   * Content-Length) instead of 200 with the size, for fronts that drop a HEAD answer's Content-Length
   * (docs/lambda.md "Unsettled gateway behaviours"). Stores without headUrl answer 200 as usual.
   */
  blobHeadRedirect: z.boolean().default(false),
  /** Largest page of tags or repositories one request returns (n above it is capped, with a Link). */
  maxPageSize: z.number().int().positive().default(1000),
  /** Token auth (multi-tenant mode): what tokens say and how long they last. */
  auth: z
    .object({
      /** The `service` of challenges and the issuer and audience of tokens: one value per deployment. */
      service: z.string().min(1).max(255).default("stratus"),
      /** Absolute URL of /token for challenges; by default derived from each request's origin. */
      realm: z.url().optional(),
      /** Access tokens are short-lived: revoking a key takes effect for new tokens at once, for issued ones within this. */
      accessTokenTtlSeconds: z.number().int().min(60).max(3600).default(300),
      /** Refresh tokens (docker login's identity token) are checked against their key on each use. */
      refreshTokenTtlSeconds: z.number().int().positive().default(30 * 24 * 3600),
    })
    .prefault({}),
});

export type RegistryConfig = z.infer<typeof registryConfigSchema>;
export type RegistryConfigInput = z.input<typeof registryConfigSchema>;

export function parseRegistryConfig(input: RegistryConfigInput = {}): RegistryConfig {
  return registryConfigSchema.parse(input);
}
