// The OCI error codes (distribution-spec "Error Codes") and the HTTP status each one answers with,
// listed once. Services throw RegistryError; the HTTP layer renders it as the spec's JSON body.

export const OCI_ERRORS = {
  BLOB_UNKNOWN: { status: 404, message: "blob unknown to registry" },
  BLOB_UPLOAD_INVALID: { status: 400, message: "blob upload invalid" },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: "blob upload unknown to registry" },
  DIGEST_INVALID: { status: 400, message: "provided digest did not match uploaded content" },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: "manifest references a manifest or blob unknown to registry" },
  MANIFEST_INVALID: { status: 400, message: "manifest invalid" },
  MANIFEST_UNKNOWN: { status: 404, message: "manifest unknown to registry" },
  NAME_INVALID: { status: 400, message: "invalid repository name" },
  NAME_UNKNOWN: { status: 404, message: "repository name not known to registry" },
  SIZE_INVALID: { status: 400, message: "provided length did not match content length" },
  UNAUTHORIZED: { status: 401, message: "authentication required" },
  DENIED: { status: 403, message: "requested access to the resource is denied" },
  UNSUPPORTED: { status: 405, message: "the operation is unsupported" },
  TOOMANYREQUESTS: { status: 429, message: "too many requests" },
  // Not in the spec's table; distribution's code for a tag that does not match the grammar on a push.
  TAG_INVALID: { status: 400, message: "manifest tag did not match URI" },
  // Not in the spec's table but used by the CNCF distribution registry for bad Range/Content-Range.
  RANGE_INVALID: { status: 416, message: "invalid content range" },
  // Our own, for failures of the registry itself; the message never carries internals.
  INTERNAL_ERROR: { status: 500, message: "internal error; the request can be retried" },
  UNAVAILABLE: { status: 503, message: "storage temporarily unavailable; retry the request" },
} as const;

export type OciErrorCode = keyof typeof OCI_ERRORS;

export interface RegistryErrorOptions {
  /** Overrides the code's usual status, where the spec names another one (413 for an oversize manifest, 404 for no route). */
  status?: number;
  /** Extra response headers (Range on a 416 of an upload, Content-Range on a blob 416). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class RegistryError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message?: string, detail?: unknown, options: RegistryErrorOptions = {}) {
    super(message ?? OCI_ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RegistryError";
    this.code = code;
    this.status = options.status ?? OCI_ERRORS[code].status;
    this.detail = detail ?? null;
    this.headers = options.headers ?? {};
  }
}

export function isRegistryError(e: unknown): e is RegistryError {
  return e instanceof RegistryError;
}
