import { z } from "zod";
import { RegistryError } from "../errors.ts";
import { tryParseDigest, type Digest } from "./digest.ts";
import { manifestJsonProblem } from "./manifest-json.ts";
import { MANIFEST_MEDIA_TYPES, MediaType, bareMediaType, type ManifestKind } from "./media-types.ts";

// zod schemas of the manifests the registry accepts (image-spec manifest.md, image-index.md,
// descriptor.md; Docker image manifest v2 schema 2). Unknown fields pass through untouched:
// the bytes are stored as pushed, the parse only checks and extracts.

const mediaTypeString = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/, "not a valid media type");

const digestString = z.string().refine((s) => tryParseDigest(s) !== undefined, "not a valid sha256 or sha512 digest");

export const descriptorSchema = z.looseObject({
  mediaType: mediaTypeString,
  digest: digestString.transform((s) => s as Digest),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  data: z.string().optional(),
  artifactType: mediaTypeString.optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
});

const imageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: mediaTypeString.optional(),
  artifactType: mediaTypeString.optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: mediaTypeString.optional(),
  artifactType: mediaTypeString.optional(),
  manifests: z.array(descriptorSchema.extend({ platform: platformSchema.optional() })),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** What the registry needs to know of a manifest, extracted once on push. */
export interface ParsedManifest {
  kind: ManifestKind;
  mediaType: string;
  /** Blobs that must be in the repository: config and layers (foreign layers excluded by the caller). */
  blobs: Descriptor[];
  /** Manifests that must be in the repository: an index's children. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** referrers API: artifactType, else the config's media type for an image manifest. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(reason: string, detail?: unknown): RegistryError {
  return new RegistryError("MANIFEST_INVALID", `manifest invalid: ${reason}`, detail);
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

/**
 * Checks a pushed manifest and extracts what the registry stores beside its bytes.
 * The media type comes from Content-Type; where the client sent a generic one, from the body.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | null): ParsedManifest {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw invalid(`body is not valid UTF-8 (${e instanceof Error ? e.message : String(e)})`);
  }
  const ambiguous = manifestJsonProblem(bytes, text);
  if (ambiguous) throw invalid(ambiguous);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw invalid(`body is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw invalid("body must be a JSON object");
  const body = json as Record<string, unknown>;

  const declared = bareMediaType(contentType);
  const inBody = typeof body.mediaType === "string" ? body.mediaType : undefined;
  if (
    body.schemaVersion === 1 ||
    declared === MediaType.dockerSchema1 ||
    declared === MediaType.dockerSchema1Signed ||
    inBody === MediaType.dockerSchema1 ||
    inBody === MediaType.dockerSchema1Signed
  ) {
    throw invalid(
      "Docker image manifest schema 1 is deprecated and not accepted; push with a current client (docker 1.10 or later, skopeo, podman) which writes schema 2 or OCI manifests",
    );
  }

  let mediaType: string;
  if (declared in MANIFEST_MEDIA_TYPES) {
    mediaType = declared;
    if (inBody !== undefined && inBody !== declared) {
      throw invalid(`Content-Type is ${declared} but the manifest's mediaType field is ${inBody}`);
    }
  } else if (inBody !== undefined && inBody in MANIFEST_MEDIA_TYPES) {
    mediaType = inBody;
  } else if (inBody === undefined && (declared === "" || declared === "application/json" || declared === "application/octet-stream")) {
    // image-spec allows mediaType to be absent; tell image from index by shape.
    mediaType = "manifests" in body ? MediaType.ociIndex : MediaType.ociManifest;
  } else {
    throw invalid(
      `unsupported manifest media type "${inBody ?? declared}"; supported: ${Object.keys(MANIFEST_MEDIA_TYPES).join(", ")}`,
    );
  }

  const kind = MANIFEST_MEDIA_TYPES[mediaType]!;
  if (kind === "image") {
    const result = imageManifestSchema.safeParse(body);
    if (!result.success) throw invalid(formatIssues(result.error));
    const m = result.data;
    return {
      kind,
      mediaType,
      blobs: [m.config, ...m.layers],
      manifests: [],
      subject: m.subject,
      artifactType: m.artifactType ?? m.config.mediaType,
      annotations: m.annotations,
    };
  }
  const result = indexSchema.safeParse(body);
  if (!result.success) throw invalid(formatIssues(result.error));
  const m = result.data;
  return {
    kind,
    mediaType,
    blobs: [],
    manifests: m.manifests,
    subject: m.subject,
    artifactType: m.artifactType,
    annotations: m.annotations,
  };
}
