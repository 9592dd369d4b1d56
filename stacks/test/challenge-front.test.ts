import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RESTORE_CHALLENGE_SOURCE } from "../src/challenge-front.ts";

// The challenge front's Lambda@Edge function (stacks/src/edge/restore-challenge.cjs) as a unit, on the
// event CloudFront gives an origin-response trigger. The distribution around it: deploy-modes.test.ts.

type Headers = Record<string, { key: string; value: string }[]>;
interface CloudFrontResponse {
  status: string;
  statusDescription: string;
  headers: Headers;
}
const edge = createRequire(import.meta.url)(RESTORE_CHALLENGE_SOURCE.pathname) as {
  handler: (event: unknown) => Promise<CloudFrontResponse>;
  restoreChallenge: (response: CloudFrontResponse) => CloudFrontResponse;
};

const CHALLENGE = 'Bearer realm="https://registry.example.com/token",service="stratus"';

/** An origin-response event as CloudFront documents it (Lambda@Edge event structure, "Response events"). */
function originResponse(status: string, headers: Headers) {
  return {
    Records: [
      {
        cf: {
          config: { distributionDomainName: "d111111abcdef8.cloudfront.net", distributionId: "EDFDVBD6EXAMPLE", eventType: "origin-response", requestId: "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==" },
          request: {
            clientIp: "203.0.113.178",
            method: "GET",
            uri: "/v2/",
            querystring: "",
            headers: { host: [{ key: "Host", value: "abc123.execute-api.eu-west-1.amazonaws.com" }] },
          },
          response: { status, statusDescription: status === "401" ? "Unauthorized" : "OK", headers },
        },
      },
    ],
  };
}

const common = (): Headers => ({
  "content-type": [{ key: "Content-Type", value: "application/json" }],
  "docker-distribution-api-version": [{ key: "Docker-Distribution-API-Version", value: "registry/2.0" }],
});

describe("restore-challenge (Lambda@Edge, origin response)", () => {
  it("renames x-amzn-Remapped-WWW-Authenticate back to WWW-Authenticate on a 401", async () => {
    const response = await edge.handler(originResponse("401", { ...common(), "x-amzn-remapped-www-authenticate": [{ key: "x-amzn-Remapped-WWW-Authenticate", value: CHALLENGE }] }));
    expect(response.status).toBe("401");
    expect(response.headers["www-authenticate"]).toEqual([{ key: "WWW-Authenticate", value: CHALLENGE }]);
    expect(response.headers["x-amzn-remapped-www-authenticate"]).toBeUndefined();
    expect(response.headers).toMatchObject(common());
  });

  it("keeps every value of a repeated challenge", () => {
    const basic = 'Basic realm="stratus"';
    const response = edge.restoreChallenge({
      status: "401",
      statusDescription: "Unauthorized",
      headers: { "x-amzn-remapped-www-authenticate": [{ key: "x-amzn-Remapped-WWW-Authenticate", value: CHALLENGE }, { key: "x-amzn-Remapped-WWW-Authenticate", value: basic }] },
    });
    expect(response.headers["www-authenticate"]!.map((h) => h.value)).toEqual([CHALLENGE, basic]);
  });

  it("leaves a response with its WWW-Authenticate (a gateway that does not rename it) untouched", async () => {
    const headers = { ...common(), "www-authenticate": [{ key: "WWW-Authenticate", value: CHALLENGE }] };
    const response = await edge.handler(originResponse("401", structuredClone(headers)));
    expect(response.headers).toEqual(headers);
    const both = { ...headers, "x-amzn-remapped-www-authenticate": [{ key: "x-amzn-Remapped-WWW-Authenticate", value: "Bearer other" }] };
    expect((await edge.handler(originResponse("401", structuredClone(both)))).headers).toEqual(both);
  });

  it("passes other answers as they came", async () => {
    const headers = { ...common(), location: [{ key: "Location", value: "https://bucket.s3.eu-west-1.amazonaws.com/x" }] };
    expect((await edge.handler(originResponse("307", structuredClone(headers)))).headers).toEqual(headers);
  });

  it("fits CloudFormation's inline code (4 KB) and needs nothing at run time", () => {
    const source = readFileSync(RESTORE_CHALLENGE_SOURCE, "utf8");
    expect(Buffer.byteLength(source)).toBeLessThan(4096);
    expect(source).not.toMatch(/require\(|import /);
  });
});
