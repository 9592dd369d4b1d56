import { describe, expect, it } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";

// The deployed entry point (packages/lambda/src/index.ts): importing it reads no configuration and
// opens nothing; the first request does, and a broken environment fails that request by name (the
// invoke error API Gateway turns into a 500), then the next request tries again.

describe("the handler module", () => {
  it("loads without an environment and names the missing variables on the first request", async () => {
    for (const name of Object.values(LAMBDA_ENV)) delete process.env[name];
    const { handler } = await import("../../packages/lambda/src/index.ts");
    expect(typeof handler).toBe("function");
    const event = {
      version: "2.0",
      routeKey: "ANY /v2",
      rawPath: "/v2/",
      rawQueryString: "",
      headers: {},
      requestContext: { http: { method: "GET", path: "/v2/", protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "" }, domainName: "r.example.com" },
      isBase64Encoded: false,
    };
    const context = { getRemainingTimeInMillis: () => 30_000 };
    const call = () => (handler as unknown as (e: unknown, c: unknown) => Promise<unknown>)(event, context);
    await expect(call()).rejects.toThrow(new RegExp(`${LAMBDA_ENV.bucket}.*${LAMBDA_ENV.table}`));
    await expect(call()).rejects.toThrow(LAMBDA_ENV.bucket);
  });
});
