import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { openLocalStorage } from "../../packages/storage-local/src/index.ts";
import { selectSqliteDriver, sqliteDriver } from "../../packages/storage-local/src/sqlite-driver.ts";
import { deploymentFixture, metadataFixture, tenantFixture } from "../../packages/storage-local/test/sqlite-fixtures.ts";
import { deploymentStoreContract } from "../contracts/deployment-store.contract.ts";
import { metadataStoreContract } from "../contracts/metadata-store.contract.ts";
import { tenantStoreContract } from "../contracts/tenant-store.contract.ts";
import { uploadUsageContract } from "../contracts/upload-usage.contract.ts";

// The local stores on Node's built-in SQLite, the driver of the container image (docs/container.md):
// the port contract suites of packages/storage-local again, with node:sqlite chosen for this file.
// Here because `npm run test:lambda` runs on Node 22 (node:sqlite needs 22.13 or later); `npm test`
// runs the same suites on better-sqlite3.

selectSqliteDriver("node:sqlite");

const dataDir = (prefix: string) => mkdtemp(join(tmpdir(), prefix));

test("the stores of this file run on node:sqlite", async () => {
  expect(sqliteDriver().name).toBe("node:sqlite");
  const dir = await dataDir("stratus-node-sqlite-");
  const storage = await openLocalStorage(dir);
  storage.close();
  await rm(dir, { recursive: true, force: true });
});

metadataStoreContract("SqliteMetadataStore on node:sqlite", metadataFixture);
uploadUsageContract("SqliteMetadataStore on node:sqlite", metadataFixture);
tenantStoreContract("SqliteTenantStore on node:sqlite", tenantFixture);
deploymentStoreContract("SqliteDeploymentStore on node:sqlite", deploymentFixture);
