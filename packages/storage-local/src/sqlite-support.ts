import Database from "better-sqlite3";
import { StorageUnavailableError } from "@stratus/core";

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
    if (error instanceof Database.SqliteError) throw new StorageUnavailableError(`${what}: ${error.code}`, { cause: error });
    throw error;
  }
}
