import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../test/support/free-ports.ts";
import { makeTempDir, removeDir, trackChild } from "./cleanup.ts";
import { expectStatus } from "./client.ts";
import { REPO_ROOT, type RunningRegistry } from "./servers.ts";

// Stratus in multi-tenant mode for `npm run bench:auth`: started like bench/servers.ts starts the
// open one (node directly, fresh data dir, free loopback port), with its own generated operator
// token and token signing secret; plus the few admin-API and token-flow calls the bench needs.
// servers.ts's start-up waits for `GET /v2/` to answer 200, which multi-tenant mode never does
// (it answers 401 with the Bearer challenge), hence this second starter.

export interface MultiTenantRegistry extends RunningRegistry {
  /** The operator's bootstrap token, sent as `Authorization: Bearer` to the admin API. */
  adminToken: string;
}

/** Where `--cpu-prof` writes the multi-tenant server's profile (on exit), when set. */
const CPU_PROF_DIR = process.env.STRATUS_BENCH_CPU_PROF_DIR;

const secret = () => randomBytes(32).toString("base64url");

export async function startMultiTenantStratus(): Promise<MultiTenantRegistry> {
  const dir = makeTempDir("multi-tenant");
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const logFile = join(dir, "server.log");
  const adminToken = secret();
  const adminTokenFile = join(dir, "admin-token");
  const tokenSecretsFile = join(dir, "token-secrets");
  writeFileSync(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  writeFileSync(tokenSecretsFile, `${secret()}\n`, { mode: 0o600 });

  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = trackChild(
      spawn(
        process.execPath,
        [
          ...(CPU_PROF_DIR ? ["--cpu-prof", "--cpu-prof-dir", CPU_PROF_DIR] : []),
          "--import",
          "tsx",
          "packages/server/src/main.ts",
          "--port",
          String(port),
          "--data-dir",
          join(dir, "data"),
          "--log-level",
          "warn",
          "--multi-tenant",
          "--admin-token-file",
          adminTokenFile,
          "--token-secrets-file",
          tokenSecretsFile,
        ],
        { cwd: REPO_ROOT, stdio: ["ignore", fd, fd] },
      ),
    );
  } finally {
    closeSync(fd);
  }
  const stop = async () => {
    await stopChild(child);
    removeDir(dir);
  };
  try {
    await waitForChallenge(child, origin, logFile);
  } catch (e) {
    await stop();
    throw e;
  }
  return { kind: "stratus", pid: child.pid!, port, origin, host: `127.0.0.1:${port}`, adminToken, stop };
}

/** Ready when `GET /v2/` answers 401 with the Bearer challenge that starts the token flow. */
async function waitForChallenge(child: ChildProcess, origin: string, logFile: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`multi-tenant server exited early (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`);
    }
    try {
      const res = await fetch(`${origin}/v2/`);
      await res.arrayBuffer();
      if (res.status === 401 && res.headers.get("www-authenticate")?.startsWith("Bearer ")) return;
      if (res.status === 200) throw new Error(`${origin}/v2/ answers 200 without credentials: not in multi-tenant mode`);
    } catch (e) {
      if (e instanceof Error && e.message.includes("not in multi-tenant mode")) throw e;
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`multi-tenant server at ${origin} not ready after ${timeoutMs} ms:\n${tail(logFile)}`);
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM"); // the server exits cleanly on SIGTERM, so --cpu-prof gets to write its profile
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export const basicAuth = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

/** Creates the tenant and an API key with `role` through the admin API; answers the key string (shown once). */
export async function createTenantAndKey(reg: MultiTenantRegistry, tenant: string, role: "pull" | "push"): Promise<string> {
  const headers = { authorization: `Bearer ${reg.adminToken}`, "content-type": "application/json" };
  const created = await fetch(`${reg.origin}/admin/v1/tenants`, { method: "POST", headers, body: JSON.stringify({ id: tenant }) });
  await expectStatus(created, 201, `POST /admin/v1/tenants ${tenant}`);
  await created.arrayBuffer();
  const res = await fetch(`${reg.origin}/admin/v1/tenants/${tenant}/keys`, {
    method: "POST",
    headers,
    body: JSON.stringify({ role, description: "npm run bench:auth" }),
  });
  await expectStatus(res, 201, `POST /admin/v1/tenants/${tenant}/keys`);
  const { key } = (await res.json()) as { key?: string };
  if (!key) throw new Error("key creation answered no key");
  return key;
}

/** `GET /token?service=…&scope=…` with Basic credentials, as podman, skopeo and containerd ask. */
export function tokenPath(scope: string, service = "stratus"): string {
  return `/token?${new URLSearchParams({ service, scope }).toString()}`;
}

export async function fetchToken(origin: string, authorization: string, scope: string): Promise<string> {
  const res = await fetch(`${origin}${tokenPath(scope)}`, { headers: { authorization } });
  await expectStatus(res, 200, `GET /token ${scope}`);
  const { token } = (await res.json()) as { token?: string };
  if (!token) throw new Error("/token answered no token");
  return token;
}

