import { closeSync, openSync } from "node:fs";
import { StorageUnavailableError } from "@stratus/core";
import { PRIVATE_FILE_MODE, restrictModes } from "./private-files.ts";
import { openSqlite, sqliteErrorCode, type SqliteDatabase } from "./sqlite-driver.ts";

// What both SQLite stores (metadata, tenants) need alike.

/** Fetched limit + 1 rows: the extra one only says whether there is more. */
export function toPage<T>(items: T[], limit: number): { items: T[]; more: boolean } {
  return items.length > limit ? { items: items.slice(0, limit), more: true } : { items, more: false };
}

/** SQLite failures (disk full, I/O error, locked past busy_timeout, corrupt file) become StorageUnavailableError. */
export function guard<T>(what: string, body: () => T): T {
  try {
    return body();
  } catch (error) {
    const code = sqliteErrorCode(error);
    if (code !== undefined) throw new StorageUnavailableError(`${what}: ${code}`, { cause: error });
    throw error;
  }
}

/**
 * Opens the SQLite file readable by the server's user only (private-files.ts). SQLite creates a new
 * database 0644 and gives its -wal and -shm files the database file's mode, so the file is created
 * 0600 before SQLite opens it, and one left 0644 by an earlier version is tightened with them.
 */
export function openPrivateDatabase(path: string): SqliteDatabase {
  closeSync(openSync(path, "a", PRIVATE_FILE_MODE));
  restrictModes([path, `${path}-wal`, `${path}-shm`], PRIVATE_FILE_MODE);
  return openSqlite(path);
}
