import { isRegistryError, OCI_ERRORS } from "../errors.ts";
import { toRegistryError } from "../http/responses.ts";

// The admin API answers errors in the registry's shape, {"errors":[{"code","message","detail"}]},
// with the OCI codes where they fit (UNAUTHORIZED, DENIED, NAME_INVALID, UNSUPPORTED, ...) and
// these, which the OCI table lacks, listed once here.
export const ADMIN_ONLY_ERRORS = {
  INVALID_REQUEST: { status: 400, message: "the request is invalid" },
  NOT_FOUND: { status: 404, message: "no such resource" },
  CONFLICT: { status: 409, message: "the request conflicts with the resource's current state" },
  BODY_TOO_LARGE: { status: 413, message: "the request body is too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "the request body must be application/json" },
} as const;

const ADMIN_ERRORS = { ...OCI_ERRORS, ...ADMIN_ONLY_ERRORS };
export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** Realm of the admin API's Basic challenge (API keys are Basic credentials; the operator token is Bearer). */
export const ADMIN_CHALLENGE = { "www-authenticate": 'Basic realm="stratus-admin"' } as const;

export class AdminError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(
    readonly code: AdminErrorCode,
    message?: string,
    detail?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? ADMIN_ERRORS[code].message);
    this.name = "AdminError";
    this.status = ADMIN_ERRORS[code].status;
    this.detail = detail ?? null;
  }
}

export interface RenderedError {
  status: number;
  code: string;
  message: string;
  detail: unknown;
  headers: Record<string, string>;
  /** A failure of the registry itself, for the caller to log; the client sees only 500/503. */
  unexpected: boolean;
}

/** Maps anything thrown to what the client sees; internals never reach it. */
export function renderError(error: unknown): RenderedError {
  if (error instanceof AdminError || isRegistryError(error)) {
    const headers = { ...error.headers };
    // Whatever refused the credentials, the client learns how to send them.
    if (error.status === 401 && !Object.keys(headers).some((h) => h.toLowerCase() === "www-authenticate")) Object.assign(headers, ADMIN_CHALLENGE);
    return { status: error.status, code: error.code, message: error.message, detail: error.detail, headers, unexpected: false };
  }
  const { error: mapped, unexpected } = toRegistryError(error);
  return { status: mapped.status, code: mapped.code, message: mapped.message, detail: mapped.detail, headers: mapped.headers, unexpected };
}
