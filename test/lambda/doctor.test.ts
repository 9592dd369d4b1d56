import { randomBytes } from "node:crypto";
import type { RunningServer } from "@stratus/server";
import { afterEach, describe, expect, test } from "vitest";
import { FIXES, type Verdict } from "../../packages/cli/src/commands/doctor.ts";
import { LAMBDA_ENV } from "../../packages/lambda/src/config.ts";
import { stratus } from "../../packages/cli/test/cli-test-support.ts";
import { DEFAULT_SERVICE, MultiTenantClient, type Role } from "../multi-tenant/deployment.ts";
import { freePort } from "../support/free-ports.ts";
import { PESSIMISTIC_SWITCHES, type EmulatorOptions, type PessimisticSwitch } from "./support/api-gateway-emulator.ts";
import { startLambdaDeployment, startUploadService, type LambdaDeployment } from "./support/lambda-deployment.ts";

// `stratus doctor` against the production shape: the registry Lambda, multi-tenant, behind the API
// Gateway emulation on radosgw and DynamoDB Local, with and without the upload service, under each of
// the emulator's pessimistic switches (the gateway behaviours no AWS document settles). Each switch
// must make its check FAIL and name the setting that fixes it, and that setting must make it pass.

const TIMEOUT = 120_000;

interface Shape {
  emulator?: Partial<Omit<EmulatorOptions, "handler">>;
  env?: NodeJS.ProcessEnv;
  uploadService?: boolean;
  role?: Role;
}

let open: { deployment: LambdaDeployment; uploads?: RunningServer }[] = [];
afterEach(async () => {
  for (const { deployment, uploads } of open) {
    await uploads?.close();
    await deployment.close();
  }
  open = [];
});

/** Deploys the shape, creates tenant acme and a key, runs `stratus doctor --json` with it. */
async function doctor(shape: Shape = {}) {
  const tokenSecrets = `signing-${randomBytes(32).toString("base64url")}`;
  const adminToken = `operator-${randomBytes(24).toString("base64url")}`;
  const uploadSecret = randomBytes(32).toString("hex");
  const uploadUrl = `http://127.0.0.1:${await freePort()}`;
  const deployment = await startLambdaDeployment({
    env: {
      [LAMBDA_ENV.multiTenant]: "true",
      [LAMBDA_ENV.tokenSecrets]: tokenSecrets,
      [LAMBDA_ENV.adminToken]: adminToken,
      ...(shape.uploadService ? { [LAMBDA_ENV.uploadUrl]: uploadUrl, [LAMBDA_ENV.uploadTokenSecret]: uploadSecret } : {}),
      ...shape.env,
    },
    ...(shape.emulator ? { emulator: shape.emulator } : {}),
  });
  const uploads = shape.uploadService ? await startUploadService(deployment, uploadUrl, uploadSecret, { multiTenant: true, tokenSecrets }) : undefined;
  open.push({ deployment, ...(uploads ? { uploads } : {}) });
  const url = deployment.url.replace(/\/+$/, "");
  const client = new MultiTenantClient({ url, adminToken, tokenSecrets, service: DEFAULT_SERVICE, close: async () => {} });
  await client.createTenant("acme");
  const key = await client.createKey("acme", shape.role ?? "delete");
  const run = await stratus(["doctor", url, "--tenant", "acme", "--key-stdin", "--json"], { stdin: key.key });
  const report = JSON.parse(run.out) as { repository: string; verdicts: Verdict[] };
  const by = (check: string) => report.verdicts.find((v) => v.check === check) ?? expect.unreachable(`no check ${check}`);
  return { run, report, by, status: Object.fromEntries(report.verdicts.map((v) => [v.check, v.status])), key: key.key };
}

const ALL_OK_WITH_UPLOAD_SERVICE = {
  challenge: "ok",
  token: "ok",
  "blob push": "ok",
  "manifest push": "ok",
  "blob redirect": "ok",
  "blob HEAD": "ok",
  "manifest HEAD": "ok",
  "encoded path": "ok",
  // Plain HTTP on loopback here: a warning, a FAIL for any other host or an https registry.
  "upload service": "warn",
  "PATCH 5 MiB": "ok",
  "PATCH 11 MiB": "ok",
  "chunked PATCH": "ok",
  cleanup: "ok",
};

describe("stratus doctor", () => {
  test("with the upload service: every check passes, the large PATCHes go to the upload service", { timeout: TIMEOUT }, async () => {
    const { run, report, by, status } = await doctor({ uploadService: true });
    expect(status).toEqual(ALL_OK_WITH_UPLOAD_SERVICE);
    expect(run.code).toBe(0);
    expect(report.repository).toBe("acme/stratus-doctor");
    expect(by("PATCH 11 MiB").detail).toMatch(/^on the upload service http:\/\/127\.0\.0\.1:\d+: PATCH 202, PUT 201$/);
    expect(by("upload service")).toMatchObject({ detail: expect.stringMatching(/plain HTTP/), fix: FIXES.uploadHttps });
    expect(by("blob redirect").detail).toMatch(/^GET answered 307 to http:\/\/127\.0\.0\.1:\d+, which served the bytes$/);
  });

  test("Lambda only: the 5 and 11 MiB PATCHes are refused before the registry, a warning naming the upload service", { timeout: TIMEOUT }, async () => {
    const { run, by, status } = await doctor();
    expect(status).toMatchObject({ "upload service": "skip", "PATCH 5 MiB": "warn", "PATCH 11 MiB": "warn", "chunked PATCH": "ok", cleanup: "ok" });
    expect(by("PATCH 5 MiB")).toMatchObject({ detail: expect.stringMatching(/refused before the registry: HTTP 500/), fix: FIXES.uploadService });
    expect(by("PATCH 11 MiB")).toMatchObject({ detail: expect.stringMatching(/refused before the registry: HTTP 413/), fix: FIXES.uploadService });
    expect(run.code).toBe(0);
  });

  test("prints one line per check, the fix after a failure, and exits 1 on a FAIL", { timeout: TIMEOUT }, async () => {
    const { key } = await doctor({ emulator: { dropHeadContentLength: true } });
    const url = open[0]!.deployment.url.replace(/\/+$/, "");
    const run = await stratus(["doctor", url, "--tenant", "acme", "--key-stdin"], { stdin: key });
    expect(run.code).toBe(1);
    expect(run.err).toBe("stratus: 1 check failed\n");
    const lines = run.out.trimEnd().split("\n");
    expect(lines).toHaveLength(14);
    expect(lines[0]).toMatch(/^ok    challenge +401 with WWW-Authenticate: Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="stratus"$/);
    expect(lines.find((l) => l.startsWith("FAIL"))).toBe(
      `FAIL  blob HEAD       200 with Content-Length missing, not 65536: the gateway drops it; docker and containerd cannot size blobs; fix: ${FIXES.blobHead}`,
    );
    expect(lines.at(-1)).toMatch(/^http:\/\/127\.0\.0\.1:\d+ \(acme\/stratus-doctor\): 8 ok, 3 warn, 1 FAIL, 1 skipped$/);
    expect(run.out + run.err).not.toContain(key);
  });

  test("a push key: cleanup is a warning naming the delete role", { timeout: TIMEOUT }, async () => {
    const { by, run } = await doctor({ role: "push" });
    expect(by("cleanup")).toMatchObject({ status: "warn", fix: FIXES.cleanup.replace("<repository>", "acme/stratus-doctor") });
    expect(run.code).toBe(0);
  });

  // Each pessimistic switch of the emulator: what doctor reports, then the same shape with the remedy.
  const underSwitch: Record<PessimisticSwitch, { check: string; fails: boolean; fix?: string; remedy?: Shape }> = {
    remapWwwAuthenticate: { check: "challenge", fails: true, fix: FIXES.challenge, remedy: { emulator: { remapWwwAuthenticate: true, restoreWwwAuthenticate: true } } },
    dropHeadContentLength: { check: "blob HEAD", fails: true, fix: FIXES.blobHead, remedy: { emulator: { dropHeadContentLength: true }, env: { [LAMBDA_ENV.headRedirect]: "true" } } },
    rejectChunkedRequests: { check: "chunked PATCH", fails: true, fix: FIXES.uploadService, remedy: { emulator: { rejectChunkedRequests: true }, uploadService: true } },
    // Stratus escapes a decoded rawPath again: nothing to fix.
    decodeRawPath: { check: "encoded path", fails: false },
  };

  for (const { name, options, effect } of PESSIMISTIC_SWITCHES) {
    test(`under ${name} (${effect})`, { timeout: TIMEOUT }, async () => {
      const expected = underSwitch[name];
      const { by, run, status } = await doctor({ emulator: options });
      if (expected.fails) {
        expect(by(expected.check)).toMatchObject({ status: "FAIL", fix: expected.fix });
        expect(run.code).toBe(1);
        expect(Object.entries(status).filter(([, s]) => s === "FAIL").map(([c]) => c)).toEqual([expected.check]);
      } else {
        expect(by(expected.check).status).toBe("ok");
      }
      if (expected.remedy) {
        const remedied = await doctor(expected.remedy);
        expect(remedied.by(expected.check).status).toBe("ok");
        expect(Object.values(remedied.status)).not.toContain("FAIL");
      }
    });
  }
});
