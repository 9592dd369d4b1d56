import { afterAll, beforeAll, describe } from "vitest";
import { expectFailures } from "../http-api/known-failures.ts";
import { basic, MultiTenantClient, uniqueTenant, type StartMultiTenant } from "./deployment.ts";
import { credentialTests } from "./suite-credentials.ts";
import { isolationTests } from "./suite-isolation.ts";
import { nameAndPlanTests } from "./suite-names.ts";
import type { SuiteContext } from "./suite-support.ts";
import { tokenTests } from "./suite-tokens.ts";

/**
 * The multi-tenant suite (DESIGN.md "Tenancy", "Auth"): the Docker token flow end to end, then the
 * holes a multi-tenant registry must not have, each test written so that it fails if the hole is
 * there. Every deployment runs the very same suite:
 *
 *   multiTenantSuite("the local server", startLocalMultiTenant);
 *
 * `start` is called once; tests use tenants of their own, or the two shared ones (a, b) read-only.
 */
export function multiTenantSuite(name: string, start: StartMultiTenant, options: { knownFailures?: Readonly<Record<string, string>> } = {}): void {
  // Tests a deployment fails by nature, by name with the reason (test/http-api/known-failures.ts).
  if (options.knownFailures) expectFailures(`multi-tenant registry on ${name}`, options.knownFailures);
  describe(`multi-tenant registry on ${name}`, () => {
    const t = { world: {} } as SuiteContext;

    beforeAll(async () => {
      const deployment = await start();
      const client = new MultiTenantClient(deployment);
      Object.assign(t, { deployment, client });
      const a = await client.createTenant(uniqueTenant("a"));
      const b = await client.createTenant(uniqueTenant("b"));
      const world = t.world;
      Object.assign(world, {
        a,
        b,
        aAdmin: await client.createKey(a, "admin"),
        aDelete: await client.createKey(a, "delete"),
        aPush: await client.createKey(a, "push"),
        aPull: await client.createKey(a, "pull"),
        bAdmin: await client.createKey(b, "admin"),
        bPush: await client.createKey(b, "push"),
      });
      world.aImage = await client.pushImage(`${a}/app`, "v1", basic(world.aPush));
      world.bPrivate = await client.pushImage(`${b}/private`, "v1", basic(world.bPush));
      world.bPublic = await client.pushImage(`${b}/public`, "v1", basic(world.bPush));
      await client.setVisibility(`${b}/public`, "public");
    });
    afterAll(async () => {
      await t.deployment?.close();
    });

    tokenTests(t);
    isolationTests(t);
    nameAndPlanTests(t);
    credentialTests(t);
  });
}
