import type { SqliteDatabase } from "./sqlite-driver.ts";
import { join } from "node:path";
import { guard, openPrivateDatabase } from "./sqlite-support.ts";
import type { DeploymentStore, TenancyMode } from "@stratus/core";

// The DeploymentStore port in metadata.db: what the data directory remembers of the deployment
// serving it (its tenancy mode), as rows of a key-value table, `deployment`. The table's shape never
// changes (new facts are new keys), so it needs no migration list: CREATE TABLE IF NOT EXISTS suffices,
// whichever store opens the file first. It is read and written once per start, on a connection of
// its own.

export type SqliteDeploymentStoreOptions = { dataDir: string } | { path: string };

const MODE_KEY = "tenancy_mode";

export class SqliteDeploymentStore implements DeploymentStore {
  private readonly db: SqliteDatabase;

  constructor(options: SqliteDeploymentStoreOptions) {
    const path = "path" in options ? options.path : join(options.dataDir, "metadata.db");
    this.db = guard("open deployment", () => openPrivateDatabase(path));
    try {
      guard("open deployment", () => {
        this.db.pragma("busy_timeout = 5000");
        this.db.exec("CREATE TABLE IF NOT EXISTS deployment (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID");
      });
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  close(): void {
    this.db.close();
  }

  async getTenancyMode(): Promise<TenancyMode | undefined> {
    return guard("read tenancy mode", () => this.db.prepare("SELECT value FROM deployment WHERE key = ?").pluck().get(MODE_KEY) as TenancyMode | undefined);
  }

  async setTenancyMode(mode: TenancyMode, expected: TenancyMode | undefined): Promise<boolean> {
    return guard("record tenancy mode", () =>
      expected === undefined
        ? this.db.prepare("INSERT INTO deployment (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING").run(MODE_KEY, mode).changes > 0
        : this.db.prepare("UPDATE deployment SET value = ? WHERE key = ? AND value = ?").run(mode, MODE_KEY, expected).changes > 0,
    );
  }
}
