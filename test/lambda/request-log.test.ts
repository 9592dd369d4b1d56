import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { basic, DEFAULT_SERVICE, MultiTenantClient, uniqueTenant } from "../multi-tenant/deployment.ts";
import { startLambdaDeployment, type LambdaDeployment } from "./support/lambda-deployment.ts";

// Issue 10, item 11, on the Lambda: one JSON line per request with the Node server's fields (the
// decoded body bytes, client address, user agent, caller's tenant and key id, API Gateway's request
// id, which the answer also carries), and never a secret.

const USER_AGENT = "stratus-lambda-log-test/1.0";

describe("the Lambda's request log", () => {
  const entries: Record<string, unknown>[] = [];
  const adminToken = `operator-${randomBytes(24).toString("base64url")}`;
  const tokenSecrets = `signing-${randomBytes(32).toString("base64url")}`;
  let deployment: LambdaDeployment;
  let client: MultiTenantClient;

  beforeAll(async () => {
    deployment = await startLambdaDeployment({
      env: { [LAMBDA_ENV.multiTenant]: "true", [LAMBDA_ENV.tokenSecrets]: tokenSecrets, [LAMBDA_ENV.adminToken]: adminToken },
      log: (entry) => entries.push(entry),
    });
    client = new MultiTenantClient({ url: deployment.url.replace(/\/+$/, ""), adminToken, tokenSecrets, service: DEFAULT_SERVICE, close: async () => {} });
  });
  afterAll(async () => {
    await deployment?.close();
  });

  it("names the caller and the body bytes of a manifest PUT, under the id the answer carries", async () => {
    const tenant = await client.createTenant(uniqueTenant("log"));
    const key = await client.createKey(tenant, "push");
    const image = await client.pushImage(`${tenant}/app`, "v1", basic(key));
    const res = await client.send("GET", `/v2/${tenant}/app/manifests/v1`, basic(key), { headers: { "user-agent": USER_AGENT, accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(res.status).toBe(200);
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const get = entries.find((e) => e.requestId === id)!;
    expect(get).toMatchObject({ msg: "request", method: "GET", path: `/v2/${tenant}/app/manifests/v1`, status: 200, bytesIn: 0, bytesOut: image.manifest.length, userAgent: USER_AGENT, tenant, keyId: key.id });
    expect(typeof get.remoteAddress).toBe("string");
    const put = entries.find((e) => e.method === "PUT" && e.path === `/v2/${tenant}/app/manifests/v1`)!;
    expect(put).toMatchObject({ status: 201, bytesIn: image.manifest.length, tenant, keyId: key.id });

    // No secret in any line: not the key, the operator token, the signing secrets, nor a header.
    const all = entries.map((e) => JSON.stringify(e)).join("\n");
    for (const secret of [key.key, adminToken, tokenSecrets, key.key.split("_").at(-1)!]) expect(all).not.toContain(secret);
    expect(all.toLowerCase()).not.toContain("authorization");
    expect(all).not.toContain("?");
  });
});
