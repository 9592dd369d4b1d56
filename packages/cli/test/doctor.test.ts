import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { freePort } from "../../../test/support/free-ports.ts";
import { FIXES, type Verdict } from "../src/commands/doctor.ts";
import { recordingServer, stratus, type RecordingServer } from "./cli-test-support.ts";

// stratus doctor's credentials and its first checks, against a scripted server. The checks of a whole
// deployment, under each of API Gateway's unsettled behaviours, are in test/lambda/doctor.test.ts.

let server: RecordingServer;
let dir: string;
beforeEach(async () => {
  server = await recordingServer();
  dir = await mkdtemp(join(tmpdir(), "stratus-doctor-"));
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const verdicts = (out: string) => (JSON.parse(out) as { verdicts: Verdict[] }).verdicts;
const challenge = (name: string) => ({ status: 401, body: { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }, headers: { [name]: `Bearer realm="${server.url}/token",service="stratus"` } });

describe("stratus doctor", () => {
  it("reports an unreachable registry with the URL to give, and exits 1", async () => {
    const port = await freePort();
    const run = await stratus(["doctor", `http://127.0.0.1:${port}`, "--json"]);
    expect(run.code).toBe(1);
    expect(verdicts(run.out)).toEqual([{ status: "FAIL", check: "challenge", detail: expect.stringMatching(new RegExp(`^cannot reach the registry: GET http://127\\.0\\.0\\.1:${port}/v2/: .*ECONNREFUSED`)), fix: FIXES.url }]);
    expect(run.err).toBe("stratus: 1 check failed\n");
  });

  it("names the renamed challenge header, and asks for credentials when none are found", async () => {
    server.replies.set("GET /v2/", challenge("x-amzn-remapped-www-authenticate"));
    const run = await stratus(["doctor", server.url, "--json"], { env: { DOCKER_CONFIG: join(dir, "none") } });
    expect(run.code).toBe(1);
    const [first, second, ...rest] = verdicts(run.out);
    expect(first).toMatchObject({ status: "FAIL", check: "challenge", fix: FIXES.challenge });
    expect(second).toMatchObject({ status: "FAIL", check: "token", detail: expect.stringMatching(/^no credentials/), fix: FIXES.credentials });
    expect(rest.every((v) => v.status === "skip")).toBe(true);
  });

  it("takes the tenant and key from the docker config, sends them to the realm only, and never prints the key", async () => {
    const key = "stratus_doctor_key_0123456789";
    await mkdir(join(dir, "docker"));
    const host = new URL(server.url).host;
    await writeFile(join(dir, "docker", "config.json"), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`acme:${key}`).toString("base64") } } }));
    server.replies.set("GET /v2/", challenge("www-authenticate"));
    server.replies.set("GET /token?service=stratus&scope=repository%3Aacme%2Fstratus-doctor%3Apull%2Cpush%2Cdelete", { status: 401, body: { errors: [{ code: "UNAUTHORIZED", message: "no" }] } });
    const run = await stratus(["doctor", server.url], { env: { DOCKER_CONFIG: join(dir, "docker") } });
    const tokenRequest = server.requests.find((r) => r.url.startsWith("/token?"))!;
    expect(new URL(tokenRequest.url, server.url).searchParams.get("scope")).toBe("repository:acme/stratus-doctor:pull,push,delete");
    expect(tokenRequest.headers.authorization).toBe(`Basic ${Buffer.from(`acme:${key}`).toString("base64")}`);
    expect(server.requests.filter((r) => r.headers.authorization !== undefined)).toEqual([tokenRequest]);
    expect(run.out).toContain(`FAIL  token           GET /token as acme: the key was refused; fix: ${FIXES.credentials}\n`);
    expect(run.out + run.err).not.toContain(key);
    expect(run.code).toBe(1);
  });
});

describe("stratus doctor: the upload service's TLS", () => {
  it("FAILs an upload host whose certificate does not verify, naming the certificate setting", async (context) => {
    const openssl = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=upload.invalid", "-days", "1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]);
    if (openssl.status !== 0) context.skip("openssl cannot make a certificate here");
    const tls = createHttpsServer({ key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) }, (_req, res) => res.end());
    await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve));
    try {
      const upload = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
      // An open registry whose upload sessions live on that host.
      server.replies.set("GET /v2/", { status: 200, body: {} });
      server.replies.set("POST /v2/stratus-doctor/stratus-doctor/blobs/uploads/", { status: 202, headers: { location: `${upload}/v2/stratus-doctor/stratus-doctor/blobs/uploads/1?_state=x` } });
      const run = await stratus(["doctor", server.url, "--json"], { env: { DOCKER_CONFIG: join(dir, "none") } });
      expect(run.code).toBe(1);
      expect(verdicts(run.out).find((v) => v.check === "upload service")).toEqual({
        status: "FAIL",
        check: "upload service",
        detail: expect.stringMatching(new RegExp(`^${upload.replace(/\./g, "\\.")}: GET ${upload.replace(/\./g, "\\.")}/v2/\\S*: .*self[- ]signed`)),
        fix: FIXES.uploadTls,
      });
    } finally {
      await new Promise((resolve) => tls.close(resolve));
    }
  });
});
