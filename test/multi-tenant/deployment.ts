import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { serverOptionsSchema, startServer } from "@stratus/server";
import { describeFailure } from "../http-api/client.ts";

// A multi-tenant deployment under test (DESIGN.md "Tenancy", "Auth"), and the few requests every
// multi-tenant test needs: the operator's admin calls, /token, and an image pushed with raw HTTP.
// Nothing here knows which deployment it talks to: the local server (SQLite + files) or the Lambda
// behind the API Gateway emulation (DynamoDB Local + radosgw).

export interface MultiTenantDeployment {
  /** Base URL without a trailing slash. */
  url: string;
  /** The operator's bootstrap credential for the admin API. */
  adminToken: string;
  /** The deployment's token signing secrets: tests derive "our" key from them to craft tokens. */
  tokenSecrets: string;
  /** The `service` of challenges, and the issuer and audience of tokens. */
  service: string;
  close(): Promise<void>;
}

export type StartMultiTenant = () => Promise<MultiTenantDeployment>;

/** The service name both deployments use when none is configured (core's config default). */
export const DEFAULT_SERVICE = "stratus";

function secrets() {
  return { adminToken: `operator-${randomBytes(24).toString("base64url")}`, tokenSecrets: `signing-${randomBytes(32).toString("base64url")}` };
}

/** packages/server in-process on a random port, over SQLite and files in a fresh temporary directory. */
export const startLocalMultiTenant: StartMultiTenant = async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-multi-tenant-"));
  const { adminToken, tokenSecrets } = secrets();
  const server = await startServer(serverOptionsSchema.parse({ port: 0, dataDir, logLevel: "silent", multiTenant: true, adminToken, tokenSecrets }));
  return {
    url: server.url.replace(/\/+$/, ""),
    adminToken,
    tokenSecrets,
    service: DEFAULT_SERVICE,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
};

/**
 * The registry Lambda behind the API Gateway emulation (every path routed to it, as the stack's
 * "ANY /{proxy+}" does), on a fresh bucket and table of the run's DynamoDB Local and radosgw. Needs
 * vitest.lambda.config.ts's global setup.
 */
export const startLambdaMultiTenant: StartMultiTenant = async () => {
  // Loaded here, so the local suite never pulls in the AWS SDK or the AWS suite's backends.
  const [{ LAMBDA_ENV }, { startLambdaDeployment }] = await Promise.all([
    import("../../packages/lambda/src/config.ts"),
    import("../lambda/support/lambda-deployment.ts"),
  ]);
  const { adminToken, tokenSecrets } = secrets();
  const lambda = await startLambdaDeployment({
    env: { [LAMBDA_ENV.multiTenant]: "true", [LAMBDA_ENV.tokenSecrets]: tokenSecrets, [LAMBDA_ENV.adminToken]: adminToken },
  });
  return { url: lambda.url.replace(/\/+$/, ""), adminToken, tokenSecrets, service: DEFAULT_SERVICE, close: () => lambda.close() };
};

// ---- Requests ----

export type Role = "pull" | "push" | "delete" | "admin";
export interface ApiKey {
  key: string;
  id: string;
  tenant: string;
}

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

export const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** Authorization header values. */
export const basic = (key: ApiKey | string, username = typeof key === "string" ? "user" : key.tenant) =>
  `Basic ${Buffer.from(`${username}:${typeof key === "string" ? key : key.key}`).toString("base64")}`;
export const bearer = (token: string) => `Bearer ${token}`;

/** The claims of a JWT, read without verifying it (the registry verifies; tests only look). */
export function jwtPayload(token: string): Record<string, unknown> & { access?: { type: string; name: string; actions: string[] }[] } {
  const [, payload] = token.split(".");
  return JSON.parse(Buffer.from(payload!, "base64url").toString("utf8"));
}

let counter = 0;
/** A tenant id no other test uses (ids are one name component, 64 characters at most). */
export function uniqueTenant(prefix = "t"): string {
  counter += 1;
  return `${prefix}${counter}-${randomBytes(3).toString("hex")}`;
}

/** What an image push left behind, for tests that read or delete its parts. */
export interface PushedImage {
  repository: string;
  tag: string;
  manifest: Uint8Array;
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
}

export class MultiTenantClient {
  constructor(readonly deployment: MultiTenantDeployment) {}

  get url(): string {
    return this.deployment.url;
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(new URL(path, `${this.url}/`), init);
  }

  /** A registry request with an Authorization header (none when undefined). */
  send(method: string, path: string, auth: string | undefined, init: Omit<RequestInit, "method"> = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (auth !== undefined) headers.set("authorization", auth);
    return this.fetch(path, { ...init, method, headers });
  }

  /** An admin API call as the operator (or with the given Authorization). */
  admin(method: string, path: string, body?: unknown, auth = bearer(this.deployment.adminToken)): Promise<Response> {
    return this.fetch(path, {
      method,
      headers: { authorization: auth, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  async createTenant(id: string, plan?: string): Promise<string> {
    const res = await this.admin("POST", "/admin/v1/tenants", { id, ...(plan ? { plan } : {}) });
    expect(res.status, await describeFailure(res)).toBe(201);
    return id;
  }

  /** A new API key of the tenant; the key string is shown only in this answer. */
  async createKey(tenant: string, role: Role, patterns?: string[]): Promise<ApiKey> {
    const res = await this.admin("POST", `/admin/v1/tenants/${tenant}/keys`, { role, ...(patterns ? { repositories: patterns } : {}) });
    expect(res.status, await describeFailure(res)).toBe(201);
    const body = (await res.json()) as { key: string; id: string };
    expect(body.key).toMatch(/^stratus_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
    return { key: body.key, id: body.id, tenant };
  }

  async revokeKey(key: ApiKey): Promise<void> {
    const res = await this.admin("DELETE", `/admin/v1/tenants/${key.tenant}/keys/${key.id}`);
    expect(res.status, await describeFailure(res)).toBe(204);
  }

  async listKeys(tenant: string): Promise<{ id: string; lastUsedAt: string | null; revokedAt: string | null }[]> {
    const res = await this.admin("GET", `/admin/v1/tenants/${tenant}/keys`);
    expect(res.status, await describeFailure(res)).toBe(200);
    return ((await res.json()) as { keys: { id: string; lastUsedAt: string | null; revokedAt: string | null }[] }).keys;
  }

  async setVisibility(repository: string, visibility: "public" | "private"): Promise<void> {
    const res = await this.admin("PUT", `/admin/v1/repositories/${repository}/visibility`, { visibility });
    expect(res.status, await describeFailure(res)).toBe(200);
  }

  async putPlan(
    name: string,
    limits: { repositories: number | null; storedBytes: number | null; manifestsPerRepository: number | null; uploadSessions?: number | null },
  ): Promise<void> {
    const res = await this.admin("PUT", `/admin/v1/plans/${name}`, { limits });
    expect([200, 201], await describeFailure(res)).toContain(res.status);
  }

  /** GET /token, with a key (Basic) or anonymously; returns the token and the whole answer. */
  async token(credentials: ApiKey | string | undefined, scopes: string[], extra: Record<string, string> = {}): Promise<{ token: string; body: Record<string, unknown> }> {
    const query = new URLSearchParams({ service: this.deployment.service, ...extra });
    for (const scope of scopes) query.append("scope", scope);
    const res = await this.send("GET", `/token?${query}`, credentials === undefined ? undefined : basic(credentials));
    expect(res.status, await describeFailure(res)).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(typeof body.token).toBe("string");
    return { token: body.token as string, body };
  }

  /** POST /token with the OAuth2 form (docker login's way); the raw answer. */
  oauth(form: Record<string, string>): Promise<Response> {
    return this.fetch("/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
  }

  /** One blob: POST a session, PUT ?digest= with the bytes (containerd's way). Expects 201. */
  async pushBlob(repository: string, bytes: Uint8Array, auth: string | undefined): Promise<string> {
    const digest = sha256(bytes);
    const start = await this.send("POST", `/v2/${repository}/blobs/uploads/`, auth);
    expect(start.status, await describeFailure(start)).toBe(202);
    const location = new URL(start.headers.get("location")!, `${this.url}/`);
    location.searchParams.set("digest", digest);
    const put = await this.send("PUT", location.toString(), auth, {
      headers: { "content-type": "application/octet-stream" },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    expect(put.status, await describeFailure(put)).toBe(201);
    return digest;
  }

  /** A small OCI image (config + one layer + manifest) pushed with raw HTTP. */
  async pushImage(repository: string, tag: string, auth: string | undefined): Promise<PushedImage> {
    const config = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, salt: randomBytes(8).toString("hex") }));
    const layer = new Uint8Array(randomBytes(48));
    const configDigest = await this.pushBlob(repository, config, auth);
    const layerDigest = await this.pushBlob(repository, layer, auth);
    const manifest = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
        layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
      }),
    );
    const res = await this.putManifest(repository, tag, manifest, auth);
    expect(res.status, await describeFailure(res)).toBe(201);
    return { repository, tag, manifest, manifestDigest: sha256(manifest), configDigest, layerDigest };
  }

  putManifest(repository: string, reference: string, manifest: Uint8Array, auth: string | undefined): Promise<Response> {
    return this.send("PUT", `/v2/${repository}/manifests/${reference}`, auth, { headers: { "content-type": OCI_MANIFEST }, body: manifest as Uint8Array<ArrayBuffer> });
  }
}
