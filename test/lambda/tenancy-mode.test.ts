import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { createRegistryHandler } from "../../packages/lambda/src/registry-handler.ts";
import { startApiGatewayEmulator, type RunningEmulator } from "./support/api-gateway-emulator.ts";
import { startLambdaDeployment } from "./support/lambda-deployment.ts";

// A DynamoDB table remembers the tenancy mode it was first served in (issue 10, item 8), as a data
// directory does: a multi-tenant function on a table an open one filled refuses to serve (every
// request 500, the reason logged in one line), until told plainly that the change is meant.

const running: RunningEmulator[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(running.splice(0).map((r) => r.close()));
});

describe("the registry Lambda and the table's tenancy mode", () => {
  it("a multi-tenant container on a table with open repositories serves nothing and says why; with the override it serves multi-tenant", async () => {
    const open = await startLambdaDeployment();
    running.push(open);
    const blob = randomBytes(32);
    const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    expect((await fetch(`${open.url}/v2/acme/app/blobs/uploads/?digest=${digest}`, { method: "POST", body: blob })).status).toBe(201);

    const multiTenant = { ...open.env, [LAMBDA_ENV.multiTenant]: "true", [LAMBDA_ENV.tokenSecrets]: `signing-${randomBytes(32).toString("base64url")}` };
    const logged: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void logged.push(String(line)));
    const refused = await startApiGatewayEmulator({ handler: createRegistryHandler(multiTenant) });
    running.push(refused);
    for (const path of ["/v2/", `/v2/acme/app/blobs/${digest}`]) expect((await fetch(`${refused.url}${path}`)).status).toBe(500);
    // The function's own lines are JSON (the emulator logs failed invokes in plain text beside them).
    const reasons = logged.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as { msg: string }).filter((l) => /refusing to start/.test(l.msg));
    expect(reasons.length).toBeGreaterThan(0);
    expect(reasons[0]!.msg).toMatch(/DynamoDB table .* was created in open \(single-tenant\) mode and holds repositories/);
    expect(reasons[0]!.msg).toContain(`${LAMBDA_ENV.acceptModeChange}=true`);

    // The open function still serves the table as it was; the override serves it multi-tenant.
    expect((await fetch(`${open.url}/v2/acme/app/blobs/${digest}`, { redirect: "manual" })).status).toBe(307);
    const accepted = await startApiGatewayEmulator({ handler: createRegistryHandler({ ...multiTenant, [LAMBDA_ENV.acceptModeChange]: "true" }) });
    running.push(accepted);
    expect((await fetch(`${accepted.url}/v2/acme/app/blobs/${digest}`, { redirect: "manual" })).status).toBe(401);
  });
});
