import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "vitest";

// Real clients (DESIGN.md "Tests", item 4): skopeo and podman from Debian. A missing binary must never
// turn into a silent green run: on CI (CI=true) the suite fails and says what to install; elsewhere it is
// skipped with a banner that cannot be missed.

const INSTALL_HINT = "apt-get install skopeo podman";

/** The first line of `<tool> --version`, or undefined when the binary cannot be run. */
export function toolVersion(tool: string): string | undefined {
  const result = spawnSync(tool, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.split("\n")[0]?.trim() || tool;
}

export function missingTools(tools: string[]): string[] {
  return tools.filter((tool) => toolVersion(tool) === undefined);
}

/**
 * `describe(name, body)` when every tool is installed. Otherwise: on CI one failing test naming the
 * missing tools and how to install them; elsewhere a skipped suite and a loud console.warn banner.
 */
export function describeWithTools(tools: string[], name: string, body: () => void): void {
  const missing = missingTools(tools);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const message =
    `${missing.join(" and ")} not found on PATH: the real-client tests "${name}" need ${missing.length > 1 ? "them" : "it"}. ` +
    `Install with: ${INSTALL_HINT}`;
  if (process.env.CI === "true") {
    describe(name, () => {
      test(`requires ${missing.join(", ")}`, () => {
        throw new Error(`${message} (CI=true: a missing client fails the build instead of skipping)`);
      });
    });
    return;
  }
  const line = "!".repeat(100);
  console.warn(
    [
      "",
      line,
      `!!! REAL-CLIENT TESTS DID NOT RUN: "${name}"`,
      `!!! ${missing.join(", ")} missing. ${INSTALL_HINT}`,
      "!!! (with CI=true this is a failure, not a skip)",
      line,
      "",
    ].join("\n"),
  );
  describe.skip(name, body);
}

export interface ToolEnv {
  /** Scratch directory holding HOME, XDG dirs and the auth file; remove it when done. */
  dir: string;
  env: NodeJS.ProcessEnv;
}

/**
 * An environment that keeps skopeo/podman state (auth file, config, runtime dir) in a fresh temporary
 * directory. Note: as root, containers/image keeps its blob-info cache in /var/lib/containers/cache
 * whatever HOME says; tests use freshly generated images and random ports, so entries never collide.
 */
export async function isolatedToolEnv(prefix: string): Promise<ToolEnv> {
  // Lower-case only: podman names an image pulled from `oci:<path>` after the path, and references
  // must be lower case.
  const dir = join(tmpdir(), `${prefix}${randomBytes(8).toString("hex")}`);
  await mkdir(dir, { mode: 0o700 });
  const home = join(dir, "home");
  const runtime = join(dir, "run");
  await mkdir(home, { recursive: true });
  await mkdir(runtime, { recursive: true, mode: 0o700 });
  const authFile = join(dir, "auth.json");
  // podman refuses a REGISTRY_AUTH_FILE that does not exist; an empty one means anonymous access.
  await writeFile(authFile, JSON.stringify({ auths: {} }));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    XDG_CACHE_HOME: join(home, ".cache"),
    REGISTRY_AUTH_FILE: authFile,
    TMPDIR: dir,
    LANG: "C.UTF-8",
  };
  return { dir, env };
}

/**
 * podman's arguments with everything it keeps under the tool env's scratch dir: vfs works without
 * overlay/fuse support, cgroupfs and no events backend without systemd; no container is ever run.
 */
export function podmanArgs(tools: ToolEnv, args: string[]): string[] {
  return [
    "--root", join(tools.dir, "storage"),
    "--runroot", join(tools.dir, "runroot"),
    "--tmpdir", join(tools.dir, "libpod-tmp"),
    "--storage-driver", "vfs",
    "--cgroup-manager", "cgroupfs",
    "--events-backend", "none",
    "--log-level", "error",
    ...args,
  ];
}

export class ToolError extends Error {
  constructor(
    message: string,
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Runs a tool to completion; resolves with stdout, rejects with a ToolError carrying stderr. */
export function run(tool: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new ToolError(`${tool} ${args.join(" ")} failed (${code}):\n${stderr}`, code, stdout, stderr));
      } else resolve(stdout);
    });
  });
}
