import { randomBytes } from "node:crypto";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { eventToRequest, responseToResult } from "../../packages/lambda/src/event-adapter.ts";

// The event ↔ Request/Response translation alone, on events shaped as API Gateway HTTP API sends them.

function event(overrides: Partial<APIGatewayProxyEventV2> & { method?: string } = {}): APIGatewayProxyEventV2 {
  const { method = "GET", ...rest } = overrides;
  const rawPath = rest.rawPath ?? "/v2/";
  return {
    version: "2.0",
    routeKey: "ANY /v2/{proxy+}",
    rawPath,
    rawQueryString: "",
    headers: { host: "registry.example.com" },
    requestContext: {
      accountId: "000000000000",
      apiId: "api",
      domainName: "registry.example.com",
      domainPrefix: "registry",
      http: { method, path: rawPath, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "test" },
      requestId: "id",
      routeKey: "ANY /v2/{proxy+}",
      stage: "$default",
      time: "23/Nov/2025:20:11:05 +0000",
      timeEpoch: 0,
    },
    isBase64Encoded: false,
    ...rest,
  };
}

describe("eventToRequest", () => {
  it("decodes a base64 binary body byte for byte", async () => {
    const bytes = randomBytes(70_000);
    const { request, bodyLength } = eventToRequest(
      event({ method: "PATCH", rawPath: "/v2/a/blobs/uploads/x", body: bytes.toString("base64"), isBase64Encoded: true, headers: { "content-type": "application/octet-stream" } }),
    );
    expect(bodyLength).toBe(bytes.byteLength);
    expect(Buffer.from(await request.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("takes a text body (isBase64Encoded false) as UTF-8", async () => {
    const json = JSON.stringify({ schemaVersion: 2, note: "é ✓" });
    const { request } = eventToRequest(event({ method: "PUT", rawPath: "/v2/a/manifests/v1", body: json, headers: { "content-type": "application/json" } }));
    expect(await request.text()).toBe(json);
  });

  it("gives a body-less PATCH or POST an empty body, and GET none", async () => {
    const post = eventToRequest(event({ method: "POST", rawPath: "/v2/a/blobs/uploads/" })).request;
    expect(post.body).not.toBeNull();
    expect((await post.arrayBuffer()).byteLength).toBe(0);
    expect(eventToRequest(event({ method: "GET" })).request.body).toBeNull();
  });

  it("carries API Gateway's request id as X-Request-Id, in place of one the client sent", () => {
    const { request } = eventToRequest(event({ headers: { host: "registry.example.com", "x-request-id": "forged" } }));
    expect(request.headers.get("x-request-id")).toBe("id");
  });

  it("keeps the raw query string, repeated keys included, and the raw target for core", () => {
    const { request, rawTarget } = eventToRequest(event({ method: "PUT", rawPath: "/v2/a/manifests/sha256:abc", rawQueryString: "tag=a&tag=b&n=%32" }));
    const url = new URL(request.url);
    expect(url.searchParams.getAll("tag")).toEqual(["a", "b"]);
    expect(url.searchParams.get("n")).toBe("2");
    expect(rawTarget).toBe("/v2/a/manifests/sha256:abc?tag=a&tag=b&n=%32");
    expect(url.pathname).toBe("/v2/a/manifests/sha256:abc");
  });

  it("passes comma-joined repeated headers through, puts cookies back in Cookie, and the source IP in the context", () => {
    const { request, remoteAddress } = eventToRequest(
      event({ headers: { accept: "application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json" }, cookies: ["a=1", "b=2"] }),
    );
    expect(request.headers.get("accept")).toBe("application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json");
    expect(request.headers.get("cookie")).toBe("a=1; b=2");
    expect(remoteAddress).toBe("203.0.113.7");
  });
});

describe("responseToResult", () => {
  it("encodes a binary body as base64 and keeps the status and headers", async () => {
    const bytes = randomBytes(4096);
    const result = await responseToResult(new Response(bytes, { status: 206, headers: { "content-type": "application/octet-stream", "content-range": "bytes 0-4095/9000" } }), "GET");
    expect(result.statusCode).toBe(206);
    expect(result.isBase64Encoded).toBe(true);
    expect(Buffer.from(result.body!, "base64").equals(bytes)).toBe(true);
    expect(result.headers).toMatchObject({ "content-type": "application/octet-stream", "content-range": "bytes 0-4095/9000" });
  });

  it("joins repeated headers with \", \" and moves Set-Cookie to cookies", async () => {
    const headers = new Headers();
    headers.append("link", '</v2/a/tags/list?n=2&last=b>; rel="next"');
    headers.append("link", '</v2/a/tags/list?n=2&last=d>; rel="other"');
    headers.append("set-cookie", "a=1; Path=/");
    headers.append("set-cookie", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT");
    const result = await responseToResult(new Response(null, { status: 200, headers }), "GET");
    expect(result.headers!.link).toBe('</v2/a/tags/list?n=2&last=b>; rel="next", </v2/a/tags/list?n=2&last=d>; rel="other"');
    expect(result.headers!["set-cookie"]).toBeUndefined();
    expect(result.cookies).toEqual(["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"]);
  });

  it("answers HEAD without a body but with the Content-Length of what GET would send", async () => {
    const result = await responseToResult(new Response(null, { status: 200, headers: { "content-length": "12345", "docker-content-digest": "sha256:abc" } }), "HEAD");
    expect(result.body).toBe("");
    expect(result.isBase64Encoded).toBe(false);
    expect(result.headers).toMatchObject({ "content-length": "12345", "docker-content-digest": "sha256:abc" });
  });

  it("an empty body is an empty string, not base64", async () => {
    const result = await responseToResult(new Response(null, { status: 202, headers: { location: "/v2/a/blobs/uploads/x", range: "0-0" } }), "PATCH");
    expect(result).toMatchObject({ statusCode: 202, body: "", isBase64Encoded: false, headers: { location: "/v2/a/blobs/uploads/x", range: "0-0" } });
  });
});

// HTTP APIs hand rawPath over percent-decoded (docs/lambda.md "Unsettled gateway behaviours").
describe("eventToRequest on a percent-decoded rawPath", () => {
  it("keeps a decoded ? or # in the path instead of starting a query or a fragment", () => {
    const { request, rawTarget } = eventToRequest(event({ rawPath: "/v2/a?b=1/tags/list#x", rawQueryString: "n=2" }));
    const url = new URL(request.url);
    expect(url.pathname).toBe("/v2/a%3Fb=1/tags/list%23x");
    expect(url.search).toBe("?n=2");
    expect(url.hash).toBe("");
    expect(rawTarget).toBe("/v2/a%3Fb=1/tags/list%23x?n=2");
  });

  it("escapes spaces, backslashes, non-ASCII and controls; passes an encoded path unchanged", () => {
    expect(eventToRequest(event({ rawPath: "/v2/a b\\c/é\u0001" })).rawTarget).toBe("/v2/a%20b%5Cc/%C3%A9%01");
    expect(eventToRequest(event({ rawPath: "/v2/a%2Fb/manifests/sha256:abc" })).rawTarget).toBe("/v2/a%2Fb/manifests/sha256:abc");
  });

  it("leaves what core refuses refusable: a decoded %2e%2e is a dot segment, a decoded ? an escape of a separator", async () => {
    const { rawPathProblem } = await import("../../packages/core/src/http/raw-path.ts");
    expect(rawPathProblem(eventToRequest(event({ rawPath: "/v2/a/../b/tags/list" })).rawTarget)).toMatch(/"\.\."/);
    expect(rawPathProblem(eventToRequest(event({ rawPath: "/v2/a?x/tags/list" })).rawTarget)).toMatch(/%3F/);
    expect(rawPathProblem(eventToRequest(event({ rawPath: "/v2/a\\b/tags/list" })).rawTarget)).toMatch(/%5C/);
    expect(rawPathProblem(eventToRequest(event({ rawPath: "/v2/a/b/tags/list" })).rawTarget)).toBeUndefined();
  });
});
