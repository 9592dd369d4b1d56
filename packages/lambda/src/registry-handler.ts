import middy from "@middy/core";
import { createRegistry, OpenOnLoopbackAuthorizer, settleTenancyMode, TenancyModeError, TokenKeySet, UploadLinks, type Registry, type RequestContext, type TenantStore, type TokenAuthDeps } from "@stratus/core";
import { openAwsStorage } from "@stratus/storage-aws";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { LAMBDA_ENV, readLambdaConfig, type LambdaConfig } from "./config.ts";
import { requestLogEntry, stdoutSink, type RequestLogSink } from "./request-log.ts";
import { eventToRequest, REQUEST_ID_HEADER, responseToResult } from "./event-adapter.ts";

// The registry Lambda: one `/v2/{proxy+}` route of an HTTP API (payload 2.0) into core's own router.
//
// The registry and its storage are built once per container, on the first request, from the
// environment (config.ts): module load only pulls in code (the init phase runs at full CPU, so
// loading the modules there is the cheap place); no client, credential lookup or network call
// happens before a request needs it. A failed start is not cached: the next request tries again.

const MiB = 1024 * 1024;

/**
 * Lambda's synchronous request payload limit: the whole event JSON, 6 MiB (6,291,456 bytes). A binary
 * body arrives base64-encoded, so about 4.5 MiB of raw bytes fit, less the event's own headers.
 */
export const LAMBDA_PAYLOAD_LIMIT = 6 * MiB;
/** The largest raw body a request can bring through API Gateway to this Lambda (base64 inside 6 MiB). */
export const LAMBDA_MAX_RAW_BODY = Math.floor((LAMBDA_PAYLOAD_LIMIT * 3) / 4);

/**
 * Advertised as OCI-Chunk-Min-Length. Not S3's 5 MiB part minimum as on the Node server: a chunk that
 * large cannot reach a Lambda (see LAMBDA_MAX_RAW_BODY), and a client obeying the header (regclient)
 * would then never get a chunk through. The S3 staging accepts chunks of any size (it keeps a tail
 * object until a 5 MiB part is full), so 4 MiB only tells clients what size fits.
 */
export const LAMBDA_CHUNK_MIN_LENGTH = 4 * MiB;

interface Container {
  registry: Registry;
  config: LambdaConfig;
}

export type RegistryLambdaHandler = middy.MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

/**
 * The handler over the given environment. index.ts exports it over process.env; the API Gateway
 * emulation in test/lambda builds one per emulated deployment (each its own "container").
 */
export function createRegistryHandler(env: NodeJS.ProcessEnv = process.env, log: RequestLogSink | undefined = stdoutSink(env[LAMBDA_ENV.logLevel])): RegistryLambdaHandler {
  let container: Promise<Container> | undefined;
  const open = (): Promise<Container> => {
    container ??= Promise.resolve()
      .then(() => openContainer(env))
      .catch((error: unknown) => {
        container = undefined;
        throw error;
      });
    return container;
  };

  const handle = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const startedAt = performance.now();
    const { registry, config } = await open();
    const { request, remoteAddress, rawTarget, bodyLength } = eventToRequest(event);
    const context: RequestContext = { ...(remoteAddress !== undefined ? { remoteAddress } : {}), rawTarget };
    const result =
      bodyLength > LAMBDA_MAX_RAW_BODY ? tooLarge(request, bodyLength, config) : await responseToResult(await registry.handle(request, context), request.method);
    // As the Node server answers X-Request-Id: here API Gateway's id, the one its access log shows.
    const requestId = request.headers.get(REQUEST_ID_HEADER);
    if (requestId) result.headers = { ...result.headers, [REQUEST_ID_HEADER]: requestId };
    log?.(requestLogEntry({ event, result, requestId, bytesIn: bodyLength, startedAt, context }));
    return result;
  };
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(handle);
}

/** What the sweeper needs of Lambda's context object: the time left before the function's timeout. */
export interface SweepContext {
  getRemainingTimeInMillis(): number;
}

/** Left of a sweep invocation's time for the page in progress when no new one may start. */
export const SWEEP_MARGIN_MS = 30_000;

/**
 * The scheduled sweeper (EventBridge, every 5 minutes: stacks/src/registry-api.ts): removes every
 * expired upload session, counting it out of its tenant's figures and aborting its S3 multipart
 * upload. Lambda has no background timer, so the Node server's sweep runs here instead. One run
 * goes page after page until nothing expired is left or the function's time runs short (then the
 * next run goes on); a failed start is not cached.
 */
export function createSweepHandler(env: NodeJS.ProcessEnv = process.env): (event?: unknown, context?: SweepContext) => Promise<{ removed: number }> {
  let container: Promise<Container> | undefined;
  return async (_event, context) => {
    container ??= openContainer(env, false).catch((error: unknown) => {
      container = undefined;
      throw error;
    });
    const until = context ? Date.now() + context.getRemainingTimeInMillis() - SWEEP_MARGIN_MS : undefined;
    return { removed: await (await container).registry.expireUploads(until !== undefined ? { until } : {}) };
  };
}

/** Upload links, when the deployment has an upload service: the key comes from Secrets Manager, once per container. */
async function uploadLinksFor(config: LambdaConfig): Promise<UploadLinks | undefined> {
  if (!config.uploadUrl) return undefined;
  const key = config.uploadTokenSecret ?? (config.uploadTokenSecretArn ? await readSecret(config.uploadTokenSecretArn, config.region) : undefined);
  if (!key || key.length < 32) throw new Error("the upload token secret is missing or shorter than 32 characters");
  return new UploadLinks({ baseUrl: config.uploadUrl, secret: new TextEncoder().encode(key), ttlSeconds: UPLOAD_LINK_SECONDS });
}

/** Multi-tenant mode's secrets, from Secrets Manager once per container (or inline, for the emulator). */
async function multiTenantFor(config: LambdaConfig, tenants: TenantStore): Promise<TokenAuthDeps | undefined> {
  if (!config.multiTenant) return undefined;
  const tokenSecrets = config.tokenSecrets ?? (await readSecret(config.tokenSecretsArn!, config.region));
  const operatorToken = config.adminToken ?? (config.adminTokenArn ? await readSecret(config.adminTokenArn, config.region) : undefined);
  return { tenants, tokenKeys: await TokenKeySet.fromSecrets(tokenSecrets), ...(operatorToken ? { operatorToken: operatorToken.trim() } : {}) };
}

/** A Secrets Manager secret's string. The client is loaded only by deployments that have secrets. */
async function readSecret(arn: string, region: string): Promise<string> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
  const client = new SecretsManagerClient({ region });
  try {
    const value = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
    if (!value) throw new Error(`secret ${arn} has no string value`);
    return value;
  } finally {
    client.destroy();
  }
}

/** Links are re-issued on every upload response; an hour covers the longest gap between requests of one upload. */
const UPLOAD_LINK_SECONDS = 3600;

/** `forRequests` false (the sweeper): no upload links, so no secret to read. */
async function openContainer(env: NodeJS.ProcessEnv, forRequests = true): Promise<Container> {
  const config = readLambdaConfig(env);
  const uploadLinks = forRequests ? await uploadLinksFor(config) : undefined;
  const storage = openAwsStorage({
    bucket: config.bucket,
    table: config.table,
    region: config.region,
    presignSeconds: config.presignSeconds,
    uploadTtlSeconds: config.uploadTtlSeconds,
    ...(config.s3Endpoint ? { s3Endpoint: config.s3Endpoint } : {}),
    ...(config.dynamodbEndpoint ? { dynamodbEndpoint: config.dynamodbEndpoint } : {}),
  });
  // The sweeper serves no requests: it needs no token keys, and it neither checks nor records the
  // table's tenancy mode (it would record "open" on a new table).
  const multiTenant = forRequests ? await multiTenantFor(config, storage.tenants) : undefined;
  if (forRequests) await checkTenancyMode(config, storage);
  const registry = createRegistry(
    {
      blobs: storage.blobs,
      metadata: storage.metadata,
      // Without multi-tenant mode the deployment is open to anyone who can reach its URL: the stack
      // always turns it on; the open mode serves tests and private networks.
      ...(multiTenant ? { multiTenant } : { authorizer: new OpenOnLoopbackAuthorizer({ allowRemote: true }) }),
      ...(uploadLinks ? { uploadLinks } : {}),
      onUnexpectedError: (error, request) =>
        console.error(
          JSON.stringify({
            level: "error",
            msg: request ? "request failed" : "background work failed",
            ...(request ? { requestId: request.headers.get(REQUEST_ID_HEADER), method: request.method, path: new URL(request.url).pathname } : {}),
            err: String((error as Error)?.stack ?? error),
          }),
        ),
    },
    {
      uploadTtlSeconds: config.uploadTtlSeconds,
      // Any container may take an upload's next request: the hash state travels with the session.
      resumableHashing: true,
      chunkMinLength: LAMBDA_CHUNK_MIN_LENGTH,
      blobHeadRedirect: config.headRedirect,
      ...(config.multiTenant
        ? { tenancy: "namespace" as const, auth: { ...(config.authService ? { service: config.authService } : {}), ...(config.tokenRealm ? { realm: config.tokenRealm } : {}) } }
        : {}),
    },
  );
  return { registry, config };
}

/**
 * Refuses a table created in the other tenancy mode (core services/tenancy-mode.ts), once per
 * container: one GetItem on the cold start (1 RCU, a few ms), the mode is recorded on the first.
 * A refused container serves nothing; every request answers 500 and the reason is logged in one line.
 */
async function checkTenancyMode(config: LambdaConfig, storage: Parameters<typeof settleTenancyMode>[0]): Promise<void> {
  const wanted = config.multiTenant ? "multi-tenant" : "open";
  try {
    const { changedFrom } = await settleTenancyMode(storage, wanted, {
      acceptChange: config.acceptModeChange,
      names: {
        storage: `DynamoDB table ${config.table}`,
        multiTenantOption: `${LAMBDA_ENV.multiTenant}=true`,
        acceptOption: `${LAMBDA_ENV.acceptModeChange}=true`,
      },
    });
    if (changedFrom) console.warn(JSON.stringify({ level: "warn", msg: `DynamoDB table ${config.table} now serves in another tenancy mode`, from: changedFrom, to: wanted }));
  } catch (error) {
    if (error instanceof TenancyModeError) console.error(JSON.stringify({ level: "error", msg: error.message }));
    throw error;
  }
}

/**
 * A body over what a Lambda request can carry. On AWS this never reaches the handler: API Gateway
 * (over 10 MB) or Lambda (event over 6 MiB) refuses the request first with its own bare error
 * (test/lambda/support/api-gateway-emulator.ts renders those as AWS does). It guards any other
 * front end (a Function URL, a direct invoke) and says what the registry would like clients to see.
 */
function tooLarge(request: Request, size: number, config: LambdaConfig): APIGatewayProxyStructuredResultV2 {
  const manifest = new URL(request.url).pathname.includes("/manifests/");
  const way = config.uploadUrl
    ? `send large blobs through the upload service at ${config.uploadUrl}`
    : `this deployment has no upload service (${LAMBDA_ENV.uploadUrl} unset): upload in chunks of at most ${LAMBDA_CHUNK_MIN_LENGTH} bytes (PATCH with Content-Range)`;
  const message = `the request body (${size} bytes) is over the ${LAMBDA_MAX_RAW_BODY} bytes a request to the registry's Lambda can carry (6 MiB Lambda payload, base64-encoded); ${way}`;
  const body = JSON.stringify({
    errors: [{ code: manifest ? "MANIFEST_INVALID" : "BLOB_UPLOAD_INVALID", message, detail: { size, limit: LAMBDA_MAX_RAW_BODY, uploadService: config.uploadUrl ?? null } }],
  });
  const headers: Record<string, string> = {
    "docker-distribution-api-version": "registry/2.0",
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  };
  if (request.method === "HEAD") return { statusCode: 413, headers, body: "", isBase64Encoded: false };
  return { statusCode: 413, headers, body: Buffer.from(body).toString("base64"), isBase64Encoded: true };
}
