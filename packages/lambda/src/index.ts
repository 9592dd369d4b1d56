// @stratus/lambda: the registry behind API Gateway HTTP API (payload 2.0). The deployed function's
// entry point is `handler` (esbuild bundles this file: scripts/build-lambda.ts).
import { createRegistryHandler, createSweepHandler } from "./registry-handler.ts";

export { createRegistryHandler, createSweepHandler, LAMBDA_CHUNK_MIN_LENGTH, LAMBDA_MAX_RAW_BODY, LAMBDA_PAYLOAD_LIMIT, type RegistryLambdaHandler } from "./registry-handler.ts";
export { eventToRequest, responseToResult, type AdaptedRequest } from "./event-adapter.ts";
export { LAMBDA_ENV, readLambdaConfig, type LambdaConfig } from "./config.ts";

/** Reads process.env on the first request, not at import. */
export const handler = createRegistryHandler(process.env);

/** The scheduled upload sweeper (stacks/src/registry-api.ts wires it to `index.sweep`). */
export const sweep = createSweepHandler(process.env);
