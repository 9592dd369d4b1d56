import { RegistryError } from "../errors.ts";

// Request bodies are Web ReadableStreams: the Node server hands over the socket's bytes as they
// arrive and the Lambda adapter a buffered body, so these helpers never assume a size up front.

/** Chunks of the body, or none. */
export async function* bodyChunks(request: Request): AsyncGenerator<Uint8Array> {
  if (!request.body) return;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    if (chunk.length) yield chunk;
  }
}

/**
 * Reads a small body whole, refusing it as soon as it passes `limit` bytes: by default with 413
 * MANIFEST_INVALID, or with the caller's own error (the admin API has its own codes).
 */
export async function readBodyLimited(
  request: Request,
  limit: number,
  what: string,
  tooLarge: () => Error = () => new RegistryError("MANIFEST_INVALID", `${what} is larger than the registry's limit of ${limit} bytes`, { limit }, { status: 413 }),
): Promise<Uint8Array> {
  const declared = contentLength(request);
  if (declared !== undefined && declared > limit) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of bodyChunks(request)) {
    total += chunk.length;
    if (total > limit) throw tooLarge();
    parts.push(chunk);
  }
  return concat(parts, total);
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Content-Length as a number, undefined when absent (a streamed body). */
export function contentLength(request: Request): number | undefined {
  const value = request.headers.get("content-length");
  if (value === null) return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw new RegistryError("SIZE_INVALID", `Content-Length "${value.slice(0, 30)}" is not a byte count`);
  }
  return Number(value.trim());
}

/** Whether the request carries body bytes (a Content-Length above zero, or a chunked body). */
export function hasBody(request: Request): boolean {
  const length = contentLength(request);
  if (length !== undefined) return length > 0;
  return request.body !== null && request.headers.get("transfer-encoding") !== null;
}
