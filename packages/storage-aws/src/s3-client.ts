import { S3Client } from "@aws-sdk/client-s3";
import type { S3ClientConfig } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { StorageUnavailableError } from "@stratus/core";

export interface S3ClientOptions {
  region: string;
  /** A custom endpoint (radosgw, MinIO, a VPC endpoint); path-style addressing unless forcePathStyle is false. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Static credentials; the SDK's default provider chain otherwise (the Lambda or task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, retries of throttling, 5xx and dropped connections included (SDK default 3). */
  maxAttempts?: number;
  /** Milliseconds to establish a connection (default 5 s) and a socket may stay idle (default 60 s). */
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Replaces the HTTP handler: fault injection in tests. */
  requestHandler?: S3ClientConfig["requestHandler"];
}

/**
 * The S3 client every Stratus S3 call goes through.
 *
 * Checksums only when an operation requires them (DESIGN.md "AWS facts"): with the SDK's default
 * ("WHEN_SUPPORTED") getSignedUrl for PutObject/UploadPart embeds the CRC32 of an empty body, which real
 * S3 rejects, and streamed bodies go out aws-chunked, which radosgw refuses. The registry verifies the
 * SHA-256 of every blob itself; bodies are Buffers, sent with a Content-Length.
 */
export function createS3Client(options: S3ClientOptions): S3Client {
  return new S3Client({
    region: options.region,
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    // Custom endpoints (radosgw, MinIO) rarely resolve bucket subdomains.
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler:
      options.requestHandler ??
      new NodeHttpHandler({
        connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        socketTimeout: options.socketTimeoutMs ?? 60_000,
        httpAgent: { keepAlive: true, maxSockets: 64 },
        httpsAgent: { keepAlive: true, maxSockets: 64 },
      }),
  });
}

/** The S3 error code of a failed call (NoSuchKey, SlowDown, ...), or undefined for errors not from S3 or the wire. */
export function s3ErrorName(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("$metadata" in error)) return undefined;
  return (error as { name?: string }).name;
}

export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** A missing key: GET says NoSuchKey; HEAD has no body, so only its 404 tells (a missing bucket is no such answer). */
export function isNotFound(error: unknown): boolean {
  const name = s3ErrorName(error);
  if (name === undefined || name === "NoSuchBucket" || name === "NoSuchUpload") return false;
  return name === "NoSuchKey" || name === "NotFound" || httpStatusOf(error) === 404;
}

export function isNoSuchUpload(error: unknown): boolean {
  return s3ErrorName(error) === "NoSuchUpload";
}

export function isPreconditionFailed(error: unknown): boolean {
  return s3ErrorName(error) === "PreconditionFailed" || httpStatusOf(error) === 412;
}

/**
 * Runs one S3 call; a failure of S3 or of the network, once the SDK's retries are spent, becomes
 * StorageUnavailableError (clients see 503 and retry). Errors of our own making pass unchanged.
 */
export async function s3Call<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw unavailable(what, error);
  }
}

export function unavailable(what: string, error: unknown): Error {
  if (error instanceof StorageUnavailableError) return error;
  if (!(error instanceof Error)) return new StorageUnavailableError(`${what}: ${String(error)}`, { cause: error });
  // The SDK stamps $metadata on whatever it finally throws (service errors and, after the retry
  // middleware, network errors alike); a socket error that escaped it still carries its errno code.
  const code = (error as { code?: unknown }).code;
  if (!("$metadata" in error) && typeof code !== "string" && error.name !== "TimeoutError") return error;
  const status = httpStatusOf(error);
  const detail = [error.name !== "Error" ? error.name : undefined, typeof code === "string" ? code : undefined, status ? `HTTP ${status}` : undefined]
    .filter((s) => s !== undefined)
    .join(", ");
  return new StorageUnavailableError(`S3 ${what} failed${detail ? ` (${detail})` : ""}: ${error.message}`, { cause: error });
}
