import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";

// A local stand-in for API Gateway HTTP API in front of the registry Lambda (DESIGN.md "Tests" 3):
// it calls the real handler in this process with the event API Gateway would build, and applies the
// platform's limits so that a request that would fail on AWS fails here too.
//
// Rules applied (AWS docs: "Quotas for HTTP APIs", "Lambda quotas", "Working with AWS Lambda proxy
// integrations for HTTP APIs"):
// - body over 10 MB: API Gateway refuses it itself, 413 {"message":"Request Entity Too Large"};
// - payload 2.0 event: version, routeKey, rawPath, rawQueryString, lower-cased headers with repeated
//   values joined by ",", cookies taken out of the headers, queryStringParameters (repeated keys
//   joined by ","), pathParameters.proxy, requestContext (http.method/path/protocol/sourceIp/
//   userAgent, requestId, time, timeEpoch, domainName, stage "$default");
// - the body as UTF-8 text for text/*, application/json, application/xml and application/javascript,
//   base64 with isBase64Encoded for every other content type (and none): the split measured on AWS
//   (ministackorg/ministack#766);
// - the event, serialized, over Lambda's 6 MiB (6,291,456 bytes) synchronous payload limit: the
//   invoke fails and API Gateway answers 500 {"message":"Internal Server Error"}. NOT CONFIRMED on
//   AWS (some reports show a 413 from API Gateway): either way the client gets a bare gateway error,
//   never the registry's;
// - a handler error, or a result over 6 MiB: 500 {"message":"Internal Server Error"};
// - no result within 30 s (the HTTP API integration timeout): 503 {"message":"Service Unavailable"}
//   (HTTP APIs answer 503 where REST APIs answer 504);
// - the result: statusCode, headers, cookies (as Set-Cookie), body decoded from base64 when
//   isBase64Encoded; Content-Length computed from the body, except for HEAD, where the function's
//   Content-Length is passed through (UNCONFIRMED detail of AWS; clients read blob sizes from it:
//   `dropHeadContentLength` gives the pessimistic answer);
// - rawPath percent-decoded (captured events; `decodeRawPath: false` passes it as sent).
// The other unsettled behaviours have switches of their own in EmulatorOptions (PESSIMISTIC_SWITCHES).
// Routes as stacks/src/registry-api.ts declares them: "ANY /{proxy+}" (the registry, /token, the
// admin API) plus "ANY /" ({proxy+} matches only a non-empty remainder).

export const API_GATEWAY_MAX_BODY = 10 * 1024 * 1024;
export const LAMBDA_MAX_PAYLOAD = 6 * 1024 * 1024;
export const INTEGRATION_TIMEOUT_MS = 30_000;

export type LambdaHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2 | void>;

export interface EmulatorOptions {
  handler: LambdaHandler;
  integrationTimeoutMs?: number;
  maxBodyBytes?: number;
  maxPayloadBytes?: number;
  // Behaviours of API Gateway that no AWS document settles (issue 11, item 7; docs/lambda.md
  // "Unsettled gateway behaviours"). Each switch turns on the pessimistic answer; PESSIMISTIC_SWITCHES
  // lists them for tests and `stratus doctor` that run under each.
  /** The response's WWW-Authenticate reaches the client renamed x-amzn-Remapped-WWW-Authenticate (as REST APIs do). Default false. */
  remapWwwAuthenticate?: boolean;
  /**
   * HEAD answers lose the function's Content-Length: true, the gateway sends none; "zero", it sends
   * `Content-Length: 0` (computed from the empty body, as some proxies do). Default false (passed through).
   */
  dropHeadContentLength?: boolean | "zero";
  /** A request with Transfer-Encoding: chunked and no Content-Length is refused: 411 {"message":"Length Required"}. Default false. */
  rejectChunkedRequests?: boolean;
  /**
   * rawPath (and requestContext.http.path) arrive percent-decoded, as events captured on AWS show
   * (DESIGN.md "Found since the first landing"). Default TRUE; false passes the path as sent.
   */
  decodeRawPath?: boolean;
  /**
   * A front before the gateway (CloudFront with a viewer-response function, docs/lambda.md) renames
   * x-amzn-Remapped-WWW-Authenticate back to WWW-Authenticate. Default false.
   */
  restoreWwwAuthenticate?: boolean;
}

/** The switches of EmulatorOptions that give API Gateway's pessimistic answer where AWS documents none. */
export type PessimisticSwitch = "remapWwwAuthenticate" | "dropHeadContentLength" | "rejectChunkedRequests" | "decodeRawPath";

/** Each pessimistic switch, and what it makes the emulated gateway do (for tests and doctor to iterate). */
export const PESSIMISTIC_SWITCHES: readonly { name: PessimisticSwitch; options: Partial<EmulatorOptions>; effect: string }[] = [
  { name: "remapWwwAuthenticate", options: { remapWwwAuthenticate: true }, effect: "WWW-Authenticate arrives as x-amzn-Remapped-WWW-Authenticate" },
  { name: "dropHeadContentLength", options: { dropHeadContentLength: true }, effect: "HEAD answers carry no Content-Length" },
  { name: "rejectChunkedRequests", options: { rejectChunkedRequests: true }, effect: "a chunked request without Content-Length gets 411 from the gateway" },
  { name: "decodeRawPath", options: { decodeRawPath: true }, effect: "rawPath arrives percent-decoded" },
];

/** Every pessimistic answer at once. */
export const ALL_PESSIMISTIC: Partial<EmulatorOptions> = Object.assign({}, ...PESSIMISTIC_SWITCHES.map((s) => s.options));

/** One answered request, for tests that check what went through (blob GETs answered by 307, say). */
export interface ExchangeRecord {
  method: string;
  path: string;
  status: number;
  /** Response body bytes written to the client. */
  bodyBytes: number;
  /** Who answered: the Lambda, or API Gateway itself (limits, timeouts, no route). */
  by: "lambda" | "gateway";
}

export interface RunningEmulator {
  url: string;
  exchanges: ExchangeRecord[];
  close(): Promise<void>;
}

const TEXT_TYPES = /^(text\/[^;]*|application\/(json|xml|javascript))\s*(;|$)/i;
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export async function startApiGatewayEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const limits: Limits = {
    timeoutMs: options.integrationTimeoutMs ?? INTEGRATION_TIMEOUT_MS,
    maxBody: options.maxBodyBytes ?? API_GATEWAY_MAX_BODY,
    maxPayload: options.maxPayloadBytes ?? LAMBDA_MAX_PAYLOAD,
    remapWwwAuthenticate: options.remapWwwAuthenticate ?? false,
    dropHeadContentLength: options.dropHeadContentLength ?? false,
    rejectChunkedRequests: options.rejectChunkedRequests ?? false,
    decodeRawPath: options.decodeRawPath ?? true,
    restoreWwwAuthenticate: options.restoreWwwAuthenticate ?? false,
  };
  const exchanges: ExchangeRecord[] = [];
  const server: Server = createServer((req, res) => {
    void serve(req, res, options.handler, limits).then(
      (record) => exchanges.push(record),
      () => res.destroy(),
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Limits {
  timeoutMs: number;
  maxBody: number;
  maxPayload: number;
  remapWwwAuthenticate: boolean;
  dropHeadContentLength: boolean | "zero";
  rejectChunkedRequests: boolean;
  decodeRawPath: boolean;
  restoreWwwAuthenticate: boolean;
}

async function serve(req: IncomingMessage, res: ServerResponse, handler: LambdaHandler, limits: Limits): Promise<ExchangeRecord> {
  const method = (req.method ?? "GET").toUpperCase();
  const target = req.url ?? "/";
  const queryAt = target.indexOf("?");
  const sentPath = queryAt < 0 ? target : target.slice(0, queryAt);
  const rawQueryString = queryAt < 0 ? "" : target.slice(queryAt + 1);
  // Captured events show rawPath percent-decoded (rawQueryString is not): %2F is "/", %3F a "?" in the path.
  const rawPath = limits.decodeRawPath ? decodeURIComponentSafe(sentPath) : sentPath;
  const gateway = (status: number, message: string) => writeGatewayError(res, method, sentPath, status, message);

  // API Gateway buffers the whole request before it invokes anything.
  const body = await readBody(req, limits.maxBody);
  if (body === "too large") return gateway(413, "Request Entity Too Large");
  if (limits.rejectChunkedRequests && /chunked/i.test(req.headers["transfer-encoding"] ?? "") && req.headers["content-length"] === undefined) {
    return gateway(411, "Length Required");
  }

  const routed = route(sentPath);
  if (!routed) return gateway(404, "Not Found");

  const event = buildEvent(req, method, rawPath, rawQueryString, body, routed);
  if (Buffer.byteLength(JSON.stringify(event)) > limits.maxPayload) return gateway(500, "Internal Server Error");

  const started = Date.now();
  const context = lambdaContext(started, limits.timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    handler(event, context).then(
      (result) => ({ kind: "result" as const, result }),
      (error: unknown) => ({ kind: "error" as const, error }),
    ),
    new Promise<{ kind: "timeout" }>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "timeout" }), limits.timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome.kind === "timeout") return gateway(503, "Service Unavailable");
  if (outcome.kind === "error") {
    console.error("emulated Lambda invocation failed:", outcome.error);
    return gateway(500, "Internal Server Error");
  }
  const result = normalizeResult(outcome.result);
  if (Buffer.byteLength(JSON.stringify(result)) > limits.maxPayload) return gateway(500, "Internal Server Error");
  return writeResult(res, method, sentPath, result, limits);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | "too large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > max) over = true;
      // Keep reading (and dropping) the rest, so the refusal reaches the client on an intact connection.
      if (!over) chunks.push(chunk);
    });
    req.on("end", () => resolve(over ? "too large" : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

interface Routed {
  routeKey: string;
  proxy?: string;
}

function route(rawPath: string): Routed | undefined {
  if (rawPath === "/") return { routeKey: "ANY /" };
  if (rawPath.startsWith("/")) return { routeKey: "ANY /{proxy+}", proxy: decodeURIComponentSafe(rawPath.slice(1)) };
  return undefined;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function buildEvent(req: IncomingMessage, method: string, rawPath: string, rawQueryString: string, body: Buffer, routed: Routed): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (HOP_BY_HOP.has(name)) continue;
    if (name === "cookie") {
      cookies.push(...value.split(/;\s*/).filter((c) => c.length > 0));
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "127.0.0.1";
  const host = headers.host ?? "127.0.0.1";
  headers["x-forwarded-for"] = headers["x-forwarded-for"] ? `${headers["x-forwarded-for"]}, ${sourceIp}` : sourceIp;
  headers["x-forwarded-port"] = String(req.socket.localPort ?? 443);
  headers["x-forwarded-proto"] = "http";
  headers["x-amzn-trace-id"] = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, "").slice(0, 24)}`;

  const query: Record<string, string> = {};
  for (const pair of rawQueryString ? rawQueryString.split("&") : []) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    const key = decodeURIComponentSafe((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, " "));
    const value = eq < 0 ? "" : decodeURIComponentSafe(pair.slice(eq + 1).replace(/\+/g, " "));
    query[key] = key in query ? `${query[key]},${value}` : value;
  }

  const now = new Date();
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey: routed.routeKey,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: "000000000000",
      apiId: "emulator",
      domainName: host,
      domainPrefix: host.split(".")[0]!,
      http: { method, path: rawPath, protocol: `HTTP/${req.httpVersion}`, sourceIp, userAgent: headers["user-agent"] ?? "" },
      requestId: randomUUID(),
      routeKey: routed.routeKey,
      stage: "$default",
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (cookies.length > 0) event.cookies = cookies;
  if (Object.keys(query).length > 0) event.queryStringParameters = query;
  if (routed.proxy !== undefined) event.pathParameters = { proxy: routed.proxy };
  if (body.byteLength > 0) {
    const text = TEXT_TYPES.test(headers["content-type"] ?? "");
    event.body = body.toString(text ? "utf8" : "base64");
    event.isBase64Encoded = !text;
  }
  return event;
}

/** "23/Nov/2025:20:11:05 +0000", as requestContext.time reads. */
function apiGatewayTime(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function lambdaContext(started: number, timeoutMs: number): Context {
  const fail = () => {
    throw new Error("callback-style completion is not supported by the emulator");
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "stratus-registry",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:stratus-registry",
    memoryLimitInMB: "1024",
    awsRequestId: randomUUID(),
    logGroupName: "/aws/lambda/stratus-registry",
    logStreamName: "emulator",
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
    done: fail,
    fail,
    succeed: fail,
  };
}

/** Payload 2.0 inference: a result without statusCode is a 200 JSON body of the value itself. */
function normalizeResult(result: APIGatewayProxyResultV2 | void): APIGatewayProxyStructuredResultV2 {
  if (result !== null && typeof result === "object" && "statusCode" in result && typeof result.statusCode === "number") return result;
  return { statusCode: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(result ?? null) };
}

function writeResult(res: ServerResponse, method: string, path: string, result: APIGatewayProxyStructuredResultV2, limits: Limits): ExchangeRecord {
  const body = result.body ? Buffer.from(result.body, result.isBase64Encoded ? "base64" : "utf8") : Buffer.alloc(0);
  res.statusCode = result.statusCode ?? 200;
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    let lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (lower === "content-length" && (method !== "HEAD" || limits.dropHeadContentLength))) continue;
    if (lower === "www-authenticate" && limits.remapWwwAuthenticate) lower = "x-amzn-remapped-www-authenticate";
    if (lower === "x-amzn-remapped-www-authenticate" && limits.restoreWwwAuthenticate) lower = "www-authenticate";
    res.setHeader(lower, String(value));
  }
  if (result.cookies?.length) res.setHeader("set-cookie", result.cookies);
  res.setHeader("apigw-requestid", randomUUID().replace(/-/g, "").slice(0, 16));
  if (method !== "HEAD") res.setHeader("content-length", String(body.byteLength));
  else if (limits.dropHeadContentLength === "zero") res.setHeader("content-length", "0");
  res.end(method === "HEAD" ? undefined : body);
  return { method, path, status: res.statusCode, bodyBytes: method === "HEAD" ? 0 : body.byteLength, by: "lambda" };
}

function writeGatewayError(res: ServerResponse, method: string, path: string, status: number, message: string): ExchangeRecord {
  const body = Buffer.from(JSON.stringify({ message }));
  res.writeHead(status, { "content-type": "application/json", "content-length": String(body.byteLength), "apigw-requestid": randomUUID().replace(/-/g, "").slice(0, 16) });
  res.end(method === "HEAD" ? undefined : body);
  return { method, path, status, bodyBytes: method === "HEAD" ? 0 : body.byteLength, by: "gateway" };
}
