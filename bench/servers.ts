import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { freePort } from "../test/support/free-ports.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir, removeDir, trackChild } from "./cleanup.ts";

// Starting and stopping the two registries under test, each in a fresh data directory on a free
// loopback port.

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Debian's package docker-registry; STRATUS_BENCH_DISTRIBUTION_BIN points elsewhere (a missing path skips the peer). */
export const DISTRIBUTION_BIN = process.env.STRATUS_BENCH_DISTRIBUTION_BIN ?? "/usr/bin/docker-registry";

export type RegistryKind = "stratus" | "distribution";

export interface RunningRegistry {
  kind: RegistryKind;
  /** The process whose memory and CPU we measure: the server itself, no wrapper. */
  pid: number;
  port: number;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** 127.0.0.1:<port>, for docker:// references */
  host: string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
}


export function distributionAvailable(): boolean {
  return existsSync(DISTRIBUTION_BIN);
}

export function distributionVersion(): string | null {
  if (!distributionAvailable()) return null;
  try {
    return execFileSync(DISTRIBUTION_BIN, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/**
 * Config for distribution 2.8 (Debian's docker-registry). Its parser ignores unknown keys silently,
 * so each key here was checked against that version: `log.level` is validated (error|warn|info|debug),
 * `log.accesslog.disabled: true` does silence the per-request access log (it is on by default),
 * upload purging is switched off so no background walk runs during the measurements.
 */
export function distributionConfig(rootDir: string, port: number): string {
  return [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${rootDir}`,
    "  cache:",
    "    blobdescriptor: inmemory",
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "",
  ].join("\n");
}

function spawnLogged(command: string, args: string[], logFile: string, cwd: string): ChildProcess {
  const fd = openSync(logFile, "a");
  try {
    return trackChild(spawn(command, args, { cwd, stdio: ["ignore", fd, fd] }));
  } finally {
    closeSync(fd);
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function waitReady(child: ChildProcess, origin: string, logFile: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited early (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`);
    }
    try {
      const res = await fetch(`${origin}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${origin} not ready after ${timeoutMs} ms:\n${tail(logFile)}`);
}

async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

async function start(kind: RegistryKind): Promise<RunningRegistry> {
  const dir = makeTempDir(kind);
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const logFile = join(dir, "server.log");
  let child: ChildProcess;
  if (kind === "stratus") {
    // node directly (not `npm start`), so child.pid is the server process itself.
    child = spawnLogged(
      process.execPath,
      ["--import", "tsx", "packages/server/src/main.ts", "--port", String(port), "--data-dir", join(dir, "data"), "--log-level", "warn"],
      logFile,
      REPO_ROOT,
    );
  } else {
    const config = join(dir, "config.yml");
    writeFileSync(config, distributionConfig(join(dir, "data"), port));
    child = spawnLogged(DISTRIBUTION_BIN, ["serve", config], logFile, dir);
  }
  try {
    await waitReady(child, origin, logFile);
  } catch (e) {
    await stopChild(child);
    removeDir(dir);
    throw e;
  }
  return {
    kind,
    pid: child.pid!,
    port,
    origin,
    host: `127.0.0.1:${port}`,
    async stop() {
      await stopChild(child);
      removeDir(dir);
    },
  };
}

export const startStratus = () => start("stratus");
export const startDistribution = () => start("distribution");
export const startRegistry = (kind: RegistryKind) => start(kind);
