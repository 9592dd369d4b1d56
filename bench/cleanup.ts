import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Everything the bench starts or creates is registered here, so that a normal end, an error, or
// Ctrl-C leaves no server running and no temporary directory behind.

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export function trackChild<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export function makeTempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `stratus-bench-${label}-`));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Synchronous, so it can run from process.on("exit"). */
export function cleanupNow(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  dirs.clear();
}

export function installExitHandlers(): void {
  process.on("exit", cleanupNow);
  const signals: [NodeJS.Signals, number][] = [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ];
  for (const [signal, n] of signals) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping servers and removing temporary files\n`);
      cleanupNow();
      process.exit(128 + n);
    });
  }
}
