import { afterAll, beforeAll, describe } from "vitest";
import { blobTests } from "./blobs.ts";
import { RegistryClient, type Deployment, type StartDeployment } from "./client.ts";
import { errorTests } from "./errors.ts";
import { expectFailures } from "./known-failures.ts";
import { listingTests } from "./listings.ts";
import { manifestTests } from "./manifests.ts";
import { uploadTests } from "./uploads.ts";

export type { Deployment, StartDeployment, StartOptions } from "./client.ts";

export interface SuiteOptions {
  /**
   * Tests this deployment fails by nature, by name, each with its reason (known-failures.ts): they
   * must fail, every other test must pass. For deployments that model a platform's limits.
   */
  knownFailures?: Readonly<Record<string, string>>;
}

/**
 * The HTTP API suite (DESIGN.md "Tests" 3): every endpoint of the OCI Distribution Spec v1.1
 * (end-1 … end-13, DELETE of an upload session, the _catalog extension) and every error path,
 * over real HTTP. Each deployment runs the very same suite:
 *
 *   httpApiSuite("local server", (options) => startLocalServer(options));
 *
 * `start` is called once for the suite, and once more with { uploadTtlSeconds: 1 } by the upload
 * expiry test: a deployment must honour that option. Every test uses repository names of its own,
 * so the suite can also run against a registry that already holds data.
 */
export function httpApiSuite(name: string, start: StartDeployment, options: SuiteOptions = {}): void {
  if (options.knownFailures) expectFailures(`HTTP API on ${name}`, options.knownFailures);
  describe(`HTTP API on ${name}`, () => {
    const client = new RegistryClient();
    let deployment: Deployment | undefined;

    beforeAll(async () => {
      deployment = await start();
      client.url = deployment.url.replace(/\/+$/, "");
    });
    afterAll(async () => {
      await deployment?.close();
    });

    errorTests(client);
    blobTests(client);
    uploadTests(client, start);
    manifestTests(client);
    listingTests(client);
  });
}
