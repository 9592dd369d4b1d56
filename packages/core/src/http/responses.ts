import { isRegistryError, OCI_ERRORS, RegistryError } from "../errors.ts";
import { StorageUnavailableError } from "../ports.ts";

// Every response carries the API version header (distribution-spec end-1, docker clients check it).
const COMMON = { "docker-distribution-api-version": "registry/2.0" } as const;

export function emptyResponse(status: number, headers: Record<string, string> = {}): Response {
  return new Response(null, { status, headers: { ...COMMON, ...headers } });
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(body));
  return new Response(bytes, {
    status,
    headers: { ...COMMON, "content-type": "application/json", "content-length": String(bytes.length), ...headers },
  });
}

export function bytesResponse(status: number, bytes: Uint8Array | null, headers: Record<string, string>): Response {
  return new Response(bytes as Uint8Array<ArrayBuffer> | null, { status, headers: { ...COMMON, ...headers } });
}

export function streamResponse(status: number, body: ReadableStream<Uint8Array> | null, headers: Record<string, string>): Response {
  return new Response(body, { status, headers: { ...COMMON, ...headers } });
}

/** The spec's error body: {"errors":[{"code","message","detail"}]}. */
export function errorResponse(error: RegistryError, method: string): Response {
  const body = { errors: [{ code: error.code, message: error.message, detail: error.detail }] };
  // HEAD answers carry no body (RFC 9110), only the status and headers.
  if (method === "HEAD") return emptyResponse(error.status, error.headers);
  return jsonResponse(error.status, body, error.headers);
}

/** Maps anything thrown to a RegistryError; internals never reach the client. */
export function toRegistryError(error: unknown): { error: RegistryError; unexpected: boolean } {
  if (isRegistryError(error)) return { error, unexpected: false };
  if (error instanceof StorageUnavailableError) {
    return { error: new RegistryError("UNAVAILABLE", OCI_ERRORS.UNAVAILABLE.message, null, { headers: { "retry-after": "1" } }), unexpected: true };
  }
  return { error: new RegistryError("INTERNAL_ERROR"), unexpected: true };
}
