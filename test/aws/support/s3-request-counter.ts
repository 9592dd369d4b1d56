import type { S3Client } from "@aws-sdk/client-s3";

// Counts the S3 requests a piece of code makes, by command ("PutObject", "UploadPart", ...): the S3
// half of the cost table (docs/cost.md), next to request-counter.ts for DynamoDB. A middleware on the
// client's stack counts each command once, before the SDK's retries. getSignedUrl runs a command
// through a clone of the same stack but stops before sending: such URLs are counted apart, as
// `presigned`, since they cost nothing until a client fetches them (then one GET each, billed to the
// bucket owner).

export interface S3RequestMeasure {
  /** Requests sent to S3, per command. */
  counts: Record<string, number>;
  total: number;
  /** URLs signed locally (no request), per command. */
  presigned: Record<string, number>;
  /** Request body bytes of PutObject and UploadPart (what was uploaded). */
  bytesUp: number;
}

export interface S3RequestCounter {
  snapshot(): S3RequestMeasure;
  reset(): void;
  measure<T>(work: () => Promise<T>): Promise<S3RequestMeasure & { result: T }>;
  detach(): void;
}

export function countS3Requests(client: S3Client): S3RequestCounter {
  let counts: Record<string, number> = {};
  let presigned: Record<string, number> = {};
  let bytesUp = 0;
  const name = `stratus-s3-request-counter-${Math.random().toString(36).slice(2)}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName ?? "unknown").replace(/Command$/, "");
      const result = await next(args).catch((error: unknown) => {
        // A failed request was still a request (a HEAD answering 404, a conditional PUT refused).
        counts[command] = (counts[command] ?? 0) + 1;
        throw error;
      });
      if ((result.output as { presigned?: unknown }).presigned !== undefined) {
        presigned[command] = (presigned[command] ?? 0) + 1;
      } else {
        counts[command] = (counts[command] ?? 0) + 1;
        const body = (args.input as { Body?: unknown }).Body;
        if (body instanceof Uint8Array) bytesUp += body.byteLength;
        else if (typeof body === "string") bytesUp += Buffer.byteLength(body);
      }
      return result;
    },
    { step: "initialize", name, override: true },
  );
  const snapshot = (): S3RequestMeasure => ({
    counts: { ...counts },
    total: Object.values(counts).reduce((a, b) => a + b, 0),
    presigned: { ...presigned },
    bytesUp,
  });
  const reset = () => {
    counts = {};
    presigned = {};
    bytesUp = 0;
  };
  return {
    snapshot,
    reset,
    async measure(work) {
      reset();
      const result = await work();
      return { ...snapshot(), result };
    },
    detach() {
      client.middlewareStack.remove(name);
    },
  };
}
