import { randomBytes } from "node:crypto";
import { chown, mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test, type TestContext } from "vitest";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { node22Binary } from "../../scripts/node22.ts";
import { awsBackends } from "../aws/support/backends.ts";
import { layoutBlobs, layoutRef } from "../clients/server.ts";
import { isolatedToolEnv, missingTools, run, type ToolEnv } from "../clients/tools.ts";
import { freePort } from "../support/free-ports.ts";
import { buildImageLayout } from "../support/oci-layout.ts";
import { buildStratusImage, dockerdPath, importTestBase, INSTALL_HINT, relabelImage, startDockerEngine, TEST_BASE_IMAGE, type DockerEngine } from "./support/docker.ts";
import { startLambdaDeployment, type LambdaDeployment } from "./support/lambda-deployment.ts";

// The image of infra/upload-service/Dockerfile, built here and run in a Docker engine of the test's own
// (support/docker.ts), in both of its roles:
// - the upload service (STRATUS_STORAGE=aws, as the CDK stack runs it) behind the Lambda and the API
//   Gateway emulation, on radosgw and DynamoDB Local: skopeo pushes a 200 MiB layer through it;
// - the local registry (its default, like `registry:2`) with /data on a host directory: push, restart
//   the container, pull back, and every file it wrote readable by its user only.
// Containers run with `--network host` (the engine has no bridge here) on a loopback port each.
//
// Without dockerd (or when it cannot start) the suite is skipped with a banner; with CI=true it fails.

const MiB = 1024 * 1024;
const IMAGE = "stratus-test:latest";

let engine: DockerEngine | undefined;
let unavailable: string | undefined;
let tools: ToolEnv;

beforeAll(async () => {
  const missing = [...(dockerdPath() ? [] : ["dockerd"]), ...missingTools(["skopeo"])];
  try {
    if (missing.length > 0) throw new Error(`${missing.join(", ")} not found (${INSTALL_HINT} skopeo)`);
    engine = await startDockerEngine();
  } catch (error) {
    unavailable = (error as Error).message;
    if (process.env.CI === "true") throw new Error(`the image tests need a Docker engine (CI=true fails instead of skipping): ${unavailable}`);
    const line = "!".repeat(100);
    console.warn(["", line, "!!! CONTAINER IMAGE TESTS DID NOT RUN: no Docker engine", `!!! ${unavailable.split("\n")[0]}`, "!!! (with CI=true this is a failure, not a skip)", line, ""].join("\n"));
    return;
  }
  const started = Date.now();
  await importTestBase(engine, node22Binary());
  await buildStratusImage(engine, IMAGE);
  console.info(`container.test: test base and image built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  tools = await isolatedToolEnv("stratus-container-");
}, 900_000);

afterAll(async () => {
  await engine?.stop();
  if (tools) await rm(tools.dir, { recursive: true, force: true });
});

function needsEngine(ctx: TestContext): DockerEngine {
  if (!engine) ctx.skip(`no Docker engine: ${unavailable}`);
  return engine!;
}

const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 300_000);

/** `docker run -d` of the image on the host's network; resolves once its port answers HTTP. */
async function runContainer(docker: DockerEngine, name: string, port: number, env: Record<string, string>, extra: string[] = []): Promise<void> {
  const envArgs = Object.entries({ STRATUS_HOST: "127.0.0.1", STRATUS_PORT: String(port), ...env }).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await docker.docker(["run", "-d", "--name", name, "--network", "host", ...envArgs, ...extra, IMAGE]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/v2/`);
      return;
    } catch {
      const state = (await docker.docker(["inspect", "-f", "{{.State.Status}}", name])).trim();
      if (state !== "running" || Date.now() > deadline) {
        throw new Error(`container ${name} is ${state}, not answering on ${port}:\n${await logsOf(docker, name)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function logsOf(docker: DockerEngine, name: string): Promise<string> {
  return docker.docker(["logs", "--tail", "40", name]).catch((e: Error) => e.message);
}

describe("the image for another platform", () => {
  // Item 3 of issue 11: the build stage runs on the builder's platform, so an x86 host builds the
  // arm64 image (what Fargate runs) without emulation. The arm64 "base" here is the local base
  // relabelled: the final stage only copies files onto it, so nothing of it has to run.
  test.runIf(process.arch === "x64")("builds linux/arm64 on this x86 host without emulation", { timeout: 600_000 }, async (ctx) => {
    const docker = needsEngine(ctx);
    await relabelImage(docker, TEST_BASE_IMAGE, "stratus-test-base-arm64:22", "arm64");
    await buildStratusImage(docker, "stratus-test:arm64", { platform: "linux/arm64", baseImage: "stratus-test-base-arm64:22" });
    expect((await docker.docker(["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "stratus-test:arm64"])).trim()).toBe("linux/arm64");
    // Layer for layer the same files as the amd64 image (same base files, same bundle): the build
    // stage's output does not depend on the target platform.
    const layers = async (image: string) => JSON.parse(await docker.docker(["image", "inspect", "-f", "{{json .RootFS.Layers}}", image])) as string[];
    expect(await layers("stratus-test:arm64")).toEqual(await layers(IMAGE));
  });
});

describe("the image as the upload service behind the Lambda", () => {
  let deployment: LambdaDeployment | undefined;

  afterAll(async () => {
    await engine?.docker(["rm", "-f", "upload"]).catch(() => {});
    await deployment?.close();
  });

  test("skopeo pushes a 200 MiB layer through the container and pulls it back by redirect", { timeout: 600_000 }, async (ctx) => {
    const docker = needsEngine(ctx);
    const secret = randomBytes(32).toString("hex");
    const port = await freePort();
    const uploadUrl = `http://127.0.0.1:${port}`;
    deployment = await startLambdaDeployment({ env: { [LAMBDA_ENV.uploadUrl]: uploadUrl, [LAMBDA_ENV.uploadTokenSecret]: secret } });
    const b = awsBackends();
    // As the CDK task definition sets it (stacks/src/upload-service.ts), plus the test backends' endpoints.
    await runContainer(docker, "upload", port, {
      STRATUS_STORAGE: "aws",
      STRATUS_S3_BUCKET: deployment.env[LAMBDA_ENV.bucket]!,
      STRATUS_DYNAMODB_TABLE: deployment.env[LAMBDA_ENV.table]!,
      AWS_REGION: b.region,
      STRATUS_S3_ENDPOINT: b.s3Endpoint,
      STRATUS_DYNAMODB_ENDPOINT: b.dynamoEndpoint,
      AWS_ACCESS_KEY_ID: b.accessKeyId,
      AWS_SECRET_ACCESS_KEY: b.secretAccessKey,
      STRATUS_UPLOAD_URL: uploadUrl,
      STRATUS_UPLOAD_TOKEN_SECRET: secret,
      STRATUS_LOG_LEVEL: "warn",
    });

    const src = join(tools.dir, "upload-src");
    const image = await buildImageLayout(src, "v1", [200 * MiB, 1 * MiB]);
    const ref = `docker://${new URL(deployment.url).host}/stratus/big:v1`;
    const started = Date.now();
    try {
      await skopeo("copy", "--dest-tls-verify=false", `oci:${src}:v1`, ref);
    } catch (error) {
      throw new Error(`${(error as Error).message}\ncontainer log:\n${await logsOf(docker, "upload")}`);
    }
    console.info(`container.test: 200 MiB pushed through the container in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The layers' bytes went to the container: the gateway saw no PATCH and no body-carrying PUT.
    expect(deployment.exchanges.filter((e) => e.path.includes("/blobs/uploads/") && e.method !== "POST")).toEqual([]);
    expect(deployment.exchanges.some((e) => e.method === "POST" && e.status === 202)).toBe(true);

    const out = join(tools.dir, "upload-out");
    await skopeo("copy", "--src-tls-verify=false", ref, `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    const pulled = await layoutBlobs(out);
    for (const [digest, blob] of pulled) expect(blob.contentDigest).toBe(digest);
    expect([...pulled.keys()].sort()).toEqual([...(await layoutBlobs(src)).keys()].sort());
    for (const e of deployment.exchanges.filter((x) => x.method === "GET" && /\/blobs\/sha256:/.test(x.path))) expect(e.status).toBe(307);
    await rm(src, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  });
});

describe("the image as the local registry, data in a volume", () => {
  afterAll(async () => {
    await engine?.docker(["rm", "-f", "local"]).catch(() => {});
  });

  test("serves pushes, keeps them across a restart, and writes its files 0600 / 0700", { timeout: 300_000 }, async (ctx) => {
    const docker = needsEngine(ctx);
    const port = await freePort();
    const data = join(tools.dir, "data");
    // A bind-mounted directory must be writable by the image's user, uid 1000 (a named volume takes /data's owner).
    await mkdir(data, { mode: 0o700 });
    await chown(data, 1000, 1000);
    // The image's defaults (0.0.0.0, open to every client like registry:2) but for the address: host networking here.
    await runContainer(docker, "local", port, {}, ["-v", `${data}:/data`]);

    const src = join(tools.dir, "local-src");
    const image = await buildImageLayout(src, "v1", [2 * MiB, 64 * 1024]);
    const ref = `docker://127.0.0.1:${port}/library/app:v1`;
    await skopeo("copy", "--dest-tls-verify=false", `oci:${src}:v1`, ref);

    await docker.docker(["restart", "local"]);
    const deadline = Date.now() + 30_000;
    while (!(await fetch(`http://127.0.0.1:${port}/v2/`).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error(`container did not come back:\n${await logsOf(docker, "local")}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The embedded storage on Node's built-in SQLite (the image has no native addon), without its warning.
    const log = await logsOf(docker, "local");
    expect(log).toContain('"storage":"local","dataDir":"/data"');
    expect(log).not.toContain("ExperimentalWarning");

    const out = join(tools.dir, "local-out");
    await skopeo("copy", "--src-tls-verify=false", ref, `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    for (const [digest, blob] of await layoutBlobs(out)) expect(blob.contentDigest).toBe(digest);
    expect(JSON.parse(await skopeo("list-tags", "--tls-verify=false", "docker://127.0.0.1:" + port + "/library/app")).Tags).toEqual(["v1"]);

    // Everything it wrote under /data: owned by uid 1000, files 0600, directories 0700.
    const entries = await readdir(data, { recursive: true });
    expect(entries).toEqual(expect.arrayContaining(["metadata.db", "blobs", "uploads"]));
    const loose: string[] = [];
    for (const entry of entries) {
      const s = await stat(join(data, entry));
      expect(s.uid).toBe(1000);
      const mode = (s.mode & 0o777).toString(8);
      if (mode !== (s.isDirectory() ? "700" : "600")) loose.push(`${entry} ${mode}`);
    }
    expect(loose).toEqual([]);
  });
});
