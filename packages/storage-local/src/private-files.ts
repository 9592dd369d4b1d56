import { chmodSync } from "node:fs";

// Everything the local storage writes (metadata.db and its -wal and -shm, blobs, staged uploads, and
// the directories holding them) is readable by the server's user only: files 0600, directories 0700,
// set explicitly on creation whatever the process umask. Data directories written by earlier
// versions (0644 / 0755) are tightened at open: the database files and the blobs/ and uploads/
// directories, which is enough to close every blob under them without walking millions of files.

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Sets the mode of each path that exists. Another user's file we may use but not change is left as it is. */
export function restrictModes(paths: readonly string[], mode: number): void {
  for (const path of paths) {
    try {
      chmodSync(path, mode);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "EPERM") throw error;
    }
  }
}
