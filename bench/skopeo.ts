import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { trackChild } from "./cleanup.ts";

// skopeo copy between an OCI layout on disk and a registry on loopback (plain HTTP).

/** STRATUS_BENCH_SKOPEO_BIN points elsewhere (a missing path skips the scenario). */
export const SKOPEO_BIN = process.env.STRATUS_BENCH_SKOPEO_BIN ?? "/usr/bin/skopeo";

export function skopeoAvailable(): boolean {
  return existsSync(SKOPEO_BIN);
}

export function skopeoVersion(): string | null {
  if (!skopeoAvailable()) return null;
  try {
    return execFileSync(SKOPEO_BIN, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** Runs skopeo, returns its wall time in seconds. */
async function timedSkopeo(args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const child = trackChild(spawn(SKOPEO_BIN, args, { stdio: ["ignore", "ignore", "pipe"] }));
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`skopeo ${args.join(" ")} failed (${code}):\n${stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export interface PushPullTimes {
  pushSeconds: number;
  pullSeconds: number;
}

/** Pushes oci:<layoutDir>:<tag> to <host>/bench/img:v1, then pulls it back into a fresh layout under workDir. */
export async function pushThenPull(host: string, layoutDir: string, tag: string, workDir: string): Promise<PushPullTimes> {
  const ref = `docker://${host}/bench/img:v1`;
  const pushSeconds = await timedSkopeo(["copy", "--quiet", "--dest-tls-verify=false", `oci:${layoutDir}:${tag}`, ref]);
  const pullSeconds = await timedSkopeo(["copy", "--quiet", "--src-tls-verify=false", ref, `oci:${join(workDir, "pulled")}:v1`]);
  return { pushSeconds, pullSeconds };
}
