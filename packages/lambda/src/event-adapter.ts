import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";

// Translates API Gateway HTTP API events (payload format 2.0) to the Web Request core speaks, and
// core's Response back to the structured result API Gateway expects. The Node server's twin is
// packages/server/src/node-adapter.ts: status, headers and bodies must come out the same.
//
// Payload 2.0 facts this relies on (AWS "Working with AWS Lambda proxy integrations for HTTP APIs"):
// - rawPath arrives percent-DECODED (rawQueryString does not): escapeDecodedPath below;
// - headers arrive lower-cased, repeated headers joined with ","; cookies are taken out of the
//   headers into `cookies`;
// - the body is base64 (isBase64Encoded: true) unless the content type is text/*, application/json,
//   application/xml or application/javascript, then it is the UTF-8 text: both are decoded here;
// - the result's isBase64Encoded is honoured whatever the content type (HTTP APIs have no
//   binaryMediaTypes), so every non-empty body goes back as base64: no content type is guessed;
// - Set-Cookie values go in `cookies`, every other header in `headers` (one string per name).

/** The request, and what core's RequestContext needs from the event. */
export interface AdaptedRequest {
  request: Request;
  remoteAddress: string | undefined;
  /** The request target: rawPath with what a decoded path cannot hold escaped again, and rawQueryString (core checks it for dot segments and escapes). */
  rawTarget: string;
  /** Bytes of the decoded body (0 without one). */
  bodyLength: number;
}

/** Carries the request's id: on the Request core sees (its error log reads it), and on the answer. */
export const REQUEST_ID_HEADER = "x-request-id";

export function eventToRequest(event: APIGatewayProxyEventV2): AdaptedRequest {
  const http = event.requestContext.http;
  const method = http.method.toUpperCase();
  const path = escapeDecodedPath(event.rawPath);
  const rawTarget = event.rawQueryString ? `${path}?${event.rawQueryString}` : path;
  const headers = new Headers();
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers.set(name, value);
  }
  // API Gateway's id for the request, in place of any the client sent (as the Node adapter does with its own).
  if (event.requestContext.requestId) headers.set(REQUEST_ID_HEADER, event.requestContext.requestId);
  // RFC 9110: several Cookie lines are joined with "; " (not ",").
  if (event.cookies?.length) headers.set("cookie", event.cookies.join("; "));
  const body = decodeBody(event);
  const withBody = method !== "GET" && method !== "HEAD";
  const proto = headers.get("x-forwarded-proto") ?? "https";
  const host = event.requestContext.domainName || headers.get("host") || "registry.local";
  const request = new Request(`${proto}://${host}${rawTarget}`, {
    method,
    headers,
    // Like the Node adapter, every request that may carry a body gets one (possibly empty).
    ...(withBody ? { body: body as Uint8Array<ArrayBuffer> } : {}),
  });
  return { request, remoteAddress: http.sourceIp, rawTarget, bodyLength: body.byteLength };
}

// RFC 3986 pchar, "/" and "%": what a percent-encoded path may hold literally.
const PATH_LITERAL = /[A-Za-z0-9\-._~!$&'()*+,;=:@/%]/;

/**
 * The path as a valid request target. HTTP APIs hand `rawPath` over percent-DECODED (events captured
 * on AWS; middleapi/standard-server#93, hotsock/voker#8): a client's "%3F" arrives as "?", "%23" as
 * "#", "%20" as " ". Pasted into a URL, those would start a query or a fragment, or be dropped. Every
 * character a percent-encoded path cannot hold literally is escaped again (UTF-8), so an already
 * encoded path (REST APIs, function URLs, the emulator with decodeRawPath off) passes unchanged and a
 * decoded one stays one path. Core's raw-path check (core http/raw-path.ts) then sees the escapes and
 * refuses them (no valid request path needs "?", "#", a space, a backslash or non-ASCII); a decoded
 * "%2e%2e" arrives as ".." and is refused as a dot segment. A decoded "%2F" is a plain "/": the
 * registry cannot tell it apart, and routes the path as the gateway handed it over.
 */
export function escapeDecodedPath(path: string): string {
  let out = "";
  for (const char of path) out += PATH_LITERAL.test(char) ? char : escapeChar(char);
  return out;
}

function escapeChar(char: string): string {
  try {
    return encodeURIComponent(char);
  } catch {
    return "%EF%BF%BD"; // a lone surrogate: U+FFFD, which core refuses like any non-ASCII escape
  }
}

function decodeBody(event: APIGatewayProxyEventV2): Uint8Array {
  if (event.body === undefined || event.body === null || event.body === "") return new Uint8Array(0);
  const bytes = Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The result for API Gateway; a HEAD answer keeps its headers (Content-Length included) and has no body. */
export async function responseToResult(response: Response, method: string): Promise<APIGatewayProxyStructuredResultV2> {
  const headers: Record<string, string> = {};
  // Headers.forEach already joins repeated values with ", " (the Fetch spec's combined value), and
  // lists set-cookie once per value: those go to `cookies` instead, where a comma would be ambiguous.
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  const result: APIGatewayProxyStructuredResultV2 = { statusCode: response.status, headers };
  if (cookies.length > 0) result.cookies = cookies;
  if (method.toUpperCase() === "HEAD" || response.body === null) {
    await response.body?.cancel();
    result.body = "";
    result.isBase64Encoded = false;
    return result;
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  result.body = bytes.byteLength > 0 ? bytes.toString("base64") : "";
  result.isBase64Encoded = bytes.byteLength > 0;
  return result;
}
