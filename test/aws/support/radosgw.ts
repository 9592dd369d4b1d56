import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "../../support/free-ports.ts";

// Ceph radosgw for the S3 adapter tests (DESIGN.md "Backends for tests"), started by
// scripts/radosgw.sh in a temporary directory on free loopback ports. The script's watchdog stops
// the daemons when this process dies without calling stop() (a crashed test run); a later start
// also sweeps directories left by runs whose owner is gone.

export interface Radosgw {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

const SCRIPT = resolve(fileURLToPath(import.meta.url), "../../../../scripts/radosgw.sh");
const DIR_PREFIX = "stratus-radosgw-";
const START_TIMEOUT_MS = 120_000;

export async function startRadosgw(): Promise<Radosgw> {
  // A single-node Ceph start often fails at the OSD step on a loaded 2-core machine: retry twice.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (error) {
      if (attempt >= 3) throw error;
      console.warn(`radosgw: start ${attempt} failed, retrying: ${error instanceof Error ? error.message.split("\n")[0] : error}`);
    }
  }
}

async function startOnce(): Promise<Radosgw> {
  await sweepAbandoned();
  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  const [port, monPort] = await freePorts(2);
  const accessKeyId = `AKID${randomBytes(8).toString("hex").toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString("hex");
  const { code, output } = await run(["start", dir, String(port), String(monPort), String(process.pid)], {
    RGW_ACCESS_KEY: accessKeyId,
    RGW_SECRET_KEY: secretAccessKey,
  });
  if (code !== 0) {
    // The script stops what it started when it fails, but not when it was killed for taking too long.
    await run(["stop", dir], {}).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw new Error(`radosgw did not start (scripts/radosgw.sh exited ${code}):\n${output.trim()}`);
  }
  const endpoint = /^endpoint=(\S+)$/m.exec(output)?.[1];
  if (!endpoint) throw new Error(`scripts/radosgw.sh printed no endpoint:\n${output}`);
  let stopped = false;
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    async stop() {
      if (stopped) return;
      stopped = true;
      await run(["stop", dir], {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the script; resolves on its exit (the daemons it forks keep no pipe of ours open). */
function run(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(SCRIPT, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      fail(error);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}


/** Stops daemons of earlier runs whose watchdog was killed with them (SIGKILL of the whole group). */
async function sweepAbandoned(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of entries.filter((n) => n.startsWith(DIR_PREFIX))) {
    const dir = join(tmpdir(), name);
    const owner = await readFile(join(dir, "owner"), "utf8").catch(() => undefined);
    if (owner === undefined || isAlive(Number(owner))) continue;
    await run(["stop", dir], {}).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
