import { createRequire } from "node:module";

// The SQLite connection the local stores use: better-sqlite3 where its native addon loads (Node 20 and
// later, `npm install`), else Node's built-in `node:sqlite` (Node 22.13 and later, no flag). The
// container image (infra/upload-service/Dockerfile) ships no native addon, so one bundle of plain
// JavaScript serves every architecture: docs/container.md says why. Both drive the same SQLite file
// format, so a data directory moves between them freely.
//
// The stores are written against the part of better-sqlite3's API they use (prepare, pluck, run / get /
// all, exec, pragma, transaction with .immediate()); `node:sqlite` gets a thin wrapper with the same
// behaviour, including nested transactions as savepoints.

export interface SqliteRunResult {
  changes: number | bigint;
}

export interface SqliteStatement {
  run(...params: unknown[]): SqliteRunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** Rows become their first column's value. */
  pluck(): SqliteStatement;
}

export interface SqliteTransaction<T> {
  (): T;
  /** BEGIN IMMEDIATE: the write lock before the first read (a savepoint when nested). */
  immediate(): T;
}

export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  /** `PRAGMA <source>`: every row, or with `simple` the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<T>(body: () => T): SqliteTransaction<T>;
  close(): void;
}

export type SqliteDriverName = "better-sqlite3" | "node:sqlite";

const load = createRequire(import.meta.url);

type Opener = (path: string) => SqliteDatabase;
let chosen: { name: SqliteDriverName; open: Opener } | undefined;

/** The driver this process uses; chosen once, at the first open. */
export function sqliteDriver(): { name: SqliteDriverName; open: Opener } {
  if (chosen) return chosen;
  let betterError: unknown;
  try {
    // Not a static import: a bundle without node_modules (the image) must still load this module.
    const Database = load("better-sqlite3") as new (path: string) => SqliteDatabase;
    // Loading the package succeeds even when its addon was built for another Node; opening proves it.
    new Database(":memory:").close();
    chosen = { name: "better-sqlite3", open: (path) => new Database(path) };
    return chosen;
  } catch (error) {
    betterError = error;
  }
  let nodeSqlite: NodeSqliteModule;
  try {
    nodeSqlite = load("node:sqlite") as NodeSqliteModule;
  } catch {
    throw new Error(
      `no SQLite driver: better-sqlite3 did not load (${(betterError as Error).message.split("\n")[0]}) and node:sqlite needs Node 22.13 or later (this is ${process.version}); run \`npm rebuild better-sqlite3\``,
      { cause: betterError },
    );
  }
  chosen = { name: "node:sqlite", open: (path) => new NodeSqliteDatabase(new nodeSqlite.DatabaseSync(path)) };
  return chosen;
}

/** Makes this process use `name` (tests of one driver); throws when it cannot load here. */
export function selectSqliteDriver(name: SqliteDriverName): void {
  if (name === "node:sqlite") {
    const nodeSqlite = load("node:sqlite") as NodeSqliteModule;
    chosen = { name, open: (path) => new NodeSqliteDatabase(new nodeSqlite.DatabaseSync(path)) };
  } else {
    const Database = load("better-sqlite3") as new (path: string) => SqliteDatabase;
    new Database(":memory:").close();
    chosen = { name, open: (path) => new Database(path) };
  }
}

export function openSqlite(path: string): SqliteDatabase {
  return sqliteDriver().open(path);
}

/** The SQLite result code of a driver's failure (SQLITE_FULL, SQLITE_BUSY, ...), or undefined for any other error. */
export function sqliteErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const e = error as Error & { code?: unknown; errcode?: unknown; errstr?: unknown };
  // better-sqlite3: SqliteError with code "SQLITE_*"
  if (e.name === "SqliteError" && typeof e.code === "string") return e.code;
  // node:sqlite: code ERR_SQLITE_ERROR, errcode the (extended) result code, errstr its text
  if (e.code === "ERR_SQLITE_ERROR") {
    const primary = typeof e.errcode === "number" ? e.errcode & 0xff : 1;
    return `SQLITE_${PRIMARY_CODES[primary] ?? primary}`;
  }
  return undefined;
}

// sqlite3.h primary result codes, for the names better-sqlite3 reports.
const PRIMARY_CODES: Record<number, string> = {
  1: "ERROR", 3: "PERM", 4: "ABORT", 5: "BUSY", 6: "LOCKED", 7: "NOMEM", 8: "READONLY", 10: "IOERR", 11: "CORRUPT",
  13: "FULL", 14: "CANTOPEN", 15: "PROTOCOL", 19: "CONSTRAINT", 26: "NOTADB",
};

// --- node:sqlite, as much of it as the wrapper needs (its types are not in @types/node 20) ---

interface NodeSqliteStatement {
  run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface NodeSqliteModule {
  DatabaseSync: new (path: string) => { prepare(sql: string): NodeSqliteStatement; exec(sql: string): void; close(): void };
}

class NodeSqliteStatementWrapper implements SqliteStatement {
  constructor(
    private readonly statement: NodeSqliteStatement,
    private readonly plucked = false,
  ) {}

  run(...params: unknown[]): SqliteRunResult {
    return this.statement.run(...params);
  }

  get(...params: unknown[]): unknown {
    const row = this.statement.get(...params);
    return this.plucked && row !== undefined ? firstColumn(row) : row;
  }

  all(...params: unknown[]): unknown[] {
    const rows = this.statement.all(...params);
    return this.plucked ? rows.map(firstColumn) : rows;
  }

  pluck(): SqliteStatement {
    return new NodeSqliteStatementWrapper(this.statement, true);
  }
}

function firstColumn(row: unknown): unknown {
  return Object.values(row as Record<string, unknown>)[0];
}

class NodeSqliteDatabase implements SqliteDatabase {
  /** Transactions open on this connection; inner ones are savepoints, as better-sqlite3 does. */
  private depth = 0;

  constructor(private readonly db: InstanceType<NodeSqliteModule["DatabaseSync"]>) {}

  prepare(sql: string): SqliteStatement {
    return new NodeSqliteStatementWrapper(this.db.prepare(sql));
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const statement = this.db.prepare(`PRAGMA ${source}`);
    if (!options.simple) return statement.all();
    const row = statement.get();
    return row === undefined ? undefined : firstColumn(row);
  }

  transaction<T>(body: () => T): SqliteTransaction<T> {
    const run = (begin: string): T => {
      const nested = this.depth > 0;
      const savepoint = `stratus_${this.depth}`;
      this.db.exec(nested ? `SAVEPOINT ${savepoint}` : begin);
      this.depth++;
      try {
        const result = body();
        this.db.exec(nested ? `RELEASE ${savepoint}` : "COMMIT");
        return result;
      } catch (error) {
        try {
          this.db.exec(nested ? `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}` : "ROLLBACK");
        } catch {
          // SQLite may have rolled back already (SQLITE_FULL, SQLITE_IOERR): the first error is the one to report.
        }
        throw error;
      } finally {
        this.depth--;
      }
    };
    return Object.assign(() => run("BEGIN"), { immediate: () => run("BEGIN IMMEDIATE") });
  }

  close(): void {
    this.db.close();
  }
}
