import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Agent, createServer, request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { startRecordingServer, type RecordingServer, type SeenRequest } from "./server.ts";
import { ToolError } from "./tools.ts";

// Multi-tenant mode for the real-client auth suites (DESIGN.md "Auth"): the registry in-process with
// tenants, the Docker token flow and the admin API, recording every request as startRecordingServer
// does; and a small client of the admin API (docs/admin-api.md) that an operator would script.

export interface MultiTenantServer extends RecordingServer {
  /** The operator's bootstrap token, configured inline. */
  adminToken: string;
  admin: AdminClient;
}

export async function startMultiTenantServer(): Promise<MultiTenantServer> {
  const adminToken = randomBytes(32).toString("base64url");
  const server = await startRecordingServer(
    { multiTenant: true, adminToken, tokenSecrets: randomBytes(32).toString("base64url") },
    "stratus-clients-mt-",
  );
  return { ...server, adminToken, admin: new AdminClient(server.running.url, adminToken) };
}

export type Role = "pull" | "push" | "delete" | "admin";

/** The operator's side of the admin API, over fetch. Every call throws with the answer's body unless it succeeds. */
export class AdminClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async createTenant(id: string): Promise<void> {
    await this.call("POST", "/admin/v1/tenants", { id }, 201);
  }

  /** A new API key of the tenant: the key string, shown once. */
  async createKey(tenant: string, role: Role, repositories?: string[]): Promise<string> {
    const body = (await this.call("POST", `/admin/v1/tenants/${tenant}/keys`, { role, ...(repositories ? { repositories } : {}) }, 201)) as { key: string };
    if (!/^stratus_/.test(body.key)) throw new Error(`unexpected key in ${JSON.stringify({ ...body, key: "…" })}`);
    return body.key;
  }

  async setVisibility(repository: string, visibility: "public" | "private"): Promise<void> {
    await this.call("PUT", `/admin/v1/repositories/${repository}/visibility`, { visibility }, 200);
  }

  private async call(method: string, path: string, body: unknown, expected: number): Promise<unknown> {
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== expected) throw new Error(`${method} ${path} answered ${res.status} (expected ${expected}): ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
}

/** The /token requests among `requests`: method, credentials ("basic", "bearer" or "anonymous"), the scopes of the query. */
export function tokenRequests(requests: SeenRequest[]): { method: string; credentials: string; scopes: string[]; userAgent: string; status?: number }[] {
  return requests
    .filter((r) => r.path === "/token")
    .map((r) => {
      const auth = r.headers.authorization?.split(" ")[0]?.toLowerCase();
      return {
        method: r.method,
        credentials: auth ?? "anonymous",
        scopes: r.query.getAll("scope"),
        userAgent: r.headers["user-agent"] ?? "",
        ...(r.status !== undefined ? { status: r.status } : {}),
      };
    });
}

/** The ToolError a client run failed with; fails the test when it succeeded instead. */
export async function failure(promise: Promise<unknown>): Promise<ToolError> {
  const outcome = await promise.then(
    (stdout) => ({ ok: true as const, stdout }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected the client to fail; it succeeded with: ${String(outcome.stdout).slice(0, 500)}`);
  if (!(outcome.error instanceof ToolError)) throw outcome.error;
  return outcome.error;
}

/** The hosts a containers-auth / docker config file holds credentials for. */
export async function authFileHosts(path: string): Promise<Record<string, { auth?: string; identitytoken?: string }>> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? "{}" : Promise.reject(e)));
  return (JSON.parse(text) as { auths?: Record<string, { auth?: string; identitytoken?: string }> }).auths ?? {};
}

/** As tools.ts run(), with `input` written to the tool's stdin (--password-stdin, --key-stdin). */
export function runWithInput(tool: string, args: string[], env: NodeJS.ProcessEnv, input: string, timeoutMs = 60_000, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(tool, args, { env, timeout: timeoutMs, encoding: "utf8", ...(cwd ? { cwd } : {}) }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const code = (error as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
      // Only the first words of the command: later arguments may be secrets.
      reject(new ToolError(`${tool} ${args.slice(0, 2).join(" ")} … failed (${code}):\n${stderr}`, code, stdout, stderr));
    });
    child.stdin?.end(input);
  });
}

/**
 * A plain HTTP relay in front of `target` that records each request as the registry would see it
 * (with the Host header the client sent, passed on unchanged, so challenges name the relay). For
 * deployments whose own requests a test cannot observe, such as the Lambda behind its emulator.
 */
export async function startRecordingRelay(target: string): Promise<{ url: string; host: string; requests: SeenRequest[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://relay");
    const seen: SeenRequest = { method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers };
    requests.push(seen);
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name !== "connection" && name !== "keep-alive")) as OutgoingHttpHeaders;
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
      seen.status = answer.statusCode;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
