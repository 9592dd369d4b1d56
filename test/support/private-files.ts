import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";

/**
 * Walks a data directory: every directory is 0700 and no file is readable, writable or executable
 * by group or others. Returns the files seen (relative paths), so a test can check what is there.
 */
export async function expectPrivateTree(root: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string, relative: string) => {
    expect((await stat(dir)).mode & 0o777, `directory ${relative || "."}`).toBe(0o700);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const shown = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        await walk(path, shown);
      } else {
        files.push(shown);
        expect((await stat(path)).mode & 0o077, `file ${shown} is readable by others: mode ${((await stat(path)).mode & 0o777).toString(8)}`).toBe(0);
      }
    }
  };
  await walk(root, "");
  return files;
}
