import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteDeploymentStore } from "../src/sqlite-deployment-store.ts";
import { SqliteMetadataStore } from "../src/sqlite-metadata-store.ts";
import { SqliteTenantStore } from "../src/sqlite-tenant-store.ts";

// The SQLite stores as the port contract suites take them, each in a data directory of its own:
// run here on the process's driver, and by test/lambda/node-sqlite.test.ts on node:sqlite.

/** One store in a fresh data directory, closed and removed by cleanup. */
async function fixture<T extends { close(): void }>(open: (dataDir: string) => T) {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-sqlite-"));
  const store = open(dataDir);
  return {
    store,
    cleanup: async () => {
      store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const metadataFixture = () => fixture((dataDir) => new SqliteMetadataStore({ dataDir }));
export const tenantFixture = () => fixture((dataDir) => new SqliteTenantStore({ dataDir }));

/** A deployment store, and others on the same file (`another`), as separate starts would open it. */
export async function deploymentFixture() {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-deployment-"));
  const opened: SqliteDeploymentStore[] = [];
  const open = () => {
    const store = new SqliteDeploymentStore({ dataDir });
    opened.push(store);
    return store;
  };
  return {
    store: open(),
    another: async () => open(),
    cleanup: async () => {
      for (const store of opened) store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
