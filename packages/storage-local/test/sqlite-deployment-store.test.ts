import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deploymentStoreContract } from "../../../test/contracts/deployment-store.contract.ts";
import { SqliteDeploymentStore } from "../src/sqlite-deployment-store.ts";

deploymentStoreContract("SqliteDeploymentStore", async () => {
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
});
