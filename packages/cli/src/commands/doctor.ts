import { randomBytes } from "node:crypto";
import { str, repositoryPath, type Command } from "../command.ts";
import { registryUrl } from "../admin-client.ts";
import { formatBytes, json } from "../format.ts";
import { CliError, type CliIo } from "../io.ts";
import { findCredentials, type Credentials } from "./doctor-credentials.ts";
import { describe, failed, grantedActions, isOciError, parseChallenge, sha256, type Sent } from "./doctor-http.ts";

// stratus doctor: checks a live deployment the way clients use it, over plain HTTP requests, and
// prints one verdict per check with the setting that fixes a failure. It covers what no AWS document
// settles about API Gateway (docs/lambda.md "Unsettled gateway behaviours": the challenge header, a
// HEAD answer's Content-Length, chunked request bodies, the percent-decoded rawPath), the token flow,
// pulls by redirect to storage, uploads of 5 MiB and 11 MiB in one PATCH (past Lambda's payload and
// API Gateway's body limits), and the upload service's reachability and TLS.
//
// It writes only to one repository of the tenant (<tenant>/stratus-doctor unless --repository), and
// deletes what it pushed when its key may delete.

type Status = "ok" | "warn" | "FAIL" | "skip";
export interface Verdict {
  status: Status;
  check: string;
  detail: string;
  fix?: string;
}

export const FIXES = {
  url: "give the stack's RegistryUrl output (https://<domain> or the execute-api URL)",
  challenge:
    'deploy with the challenge front: -c challengeFront=true (infra/stages.ts challengeFront; with a domain also -c frontCertificateArn=<ACM certificate in us-east-1>), CloudFront restores WWW-Authenticate (docs/deploy.md "Challenge front")',
  realm: "STRATUS_TOKEN_REALM=https://<registry host>/token (the registry's public URL behind TLS)",
  credentials: "a key of the tenant with the push role (stratus key create <tenant> --role push), given with --tenant <tenant> --key-stdin",
  blobHead: "STRATUS_HEAD_REDIRECT=true on the registry function (a blob HEAD answers 307 to a presigned S3 HEAD URL)",
  rawPath: "deploy a registry function whose event adapter escapes the decoded rawPath again (packages/lambda/src/event-adapter.ts)",
  encodedPath: "none by setting: the registry reads a %3A in a path literally (core routes the encoded path; the local server does too), so clients that escape the digest's colon get 404",
  uploadService: "enable the upload service (infra/stages.ts uploadService.enabled, with domainName and certificateArn): uploads then bypass API Gateway and Lambda",
  uploadHttps: "give the stage domainName and certificateArn: the upload service must serve HTTPS (upload links carry tokens)",
  uploadTls: "certificateArn must name a valid ACM certificate covering upload.<domainName>",
  uploadDns: "point upload.<domainName> at the UploadDomainTarget output (DNS)",
  uploadDown: "check the upload service (UploadClusterName / UploadServiceName outputs): running tasks, target health, security groups",
  storageHttps: "the bucket's presigned URLs must be https (STRATUS_S3_ENDPOINT, if set, must be an https endpoint)",
  cleanup: "give doctor a key with the delete role, or remove the repository: stratus repo delete <repository> --yes",
} as const;

const MiB = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 120_000;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const TAG = "stratus-doctor";

export const doctorCommand: Command = {
  usage: "doctor <registry-url> [--tenant <tenant> (--key-stdin | --key <key>)] [--repository <name>] [--json]",
  summary: "check a live registry as clients use it: login, push, pull, the gateway's behaviours, the upload service",
  help:
    "Credentials: --tenant with --key-stdin (or --key), else STRATUS_TENANT and STRATUS_API_KEY, else the registry's\n" +
    "entry in the docker config (stratus login / docker login). The key needs the push role; with the delete role\n" +
    "doctor also removes what it pushed. It writes to <tenant>/stratus-doctor only (--repository to change),\n" +
    "about 17 MB, and prints one line per check: ok|warn|FAIL|skip, the check, what it saw; fix: the setting.\n" +
    "Exits 1 when a check FAILs.\n",
  options: { tenant: { type: "string" }, key: { type: "string" }, "key-stdin": { type: "boolean" }, repository: { type: "string" } },
  positionals: ["registry"],
  async run(context) {
    const base = registryUrl(context.args[0]!);
    const credentials = await findCredentials(context, base);
    const repository = str(context.values, "repository") ?? `${credentials?.user ?? "stratus-doctor"}/${TAG}`;
    const verdicts = await new Doctor(context.io, base, repository, credentials).run();
    const failed = verdicts.filter((v) => v.status === "FAIL").length;
    if (context.json) {
      context.io.out(json({ registry: base.origin, repository, verdicts }));
    } else {
      const width = Math.max(...verdicts.map((v) => v.check.length));
      for (const v of verdicts) context.io.out(`${v.status.padEnd(4)}  ${v.check.padEnd(width)}  ${v.detail}${v.fix ? `; fix: ${v.fix}` : ""}\n`);
      const count = (s: Status) => verdicts.filter((v) => v.status === s).length;
      context.io.out(`${base.origin} (${repository}): ${count("ok")} ok, ${count("warn")} warn, ${failed} FAIL, ${count("skip")} skipped\n`);
    }
    if (failed > 0) throw new CliError(`${failed} check${failed === 1 ? "" : "s"} failed`);
  },
};


class Doctor {
  private readonly verdicts: Verdict[] = [];
  private authorization: string | undefined;
  /** The challenge's realm and service; undefined for an open registry. */
  private realm: { realm: string; service: string | undefined } | undefined;
  private mayDelete = true;
  private readonly pushed: { digest: string; size: number }[] = [];
  private manifest: { digest: string; bytes: Buffer } | undefined;
  private layer: { digest: string; bytes: Buffer } | undefined;

  constructor(
    private readonly io: CliIo,
    private readonly base: URL,
    private readonly repository: string,
    private readonly credentials: Credentials | undefined,
  ) {}

  async run(): Promise<Verdict[]> {
    const reached = await this.challenge();
    if (!reached) return this.verdicts;
    const authorized = await this.token();
    if (!authorized) for (const check of ["blob push", "manifest push"]) this.skip(check, "needs a token");
    const pushed = authorized && (await this.pushImage());
    if (pushed) {
      await this.blobRedirect();
      await this.blobHead();
      await this.manifestHead();
      await this.encodedPath();
    } else {
      for (const check of ["blob redirect", "blob HEAD", "manifest HEAD", "encoded path"]) this.skip(check, "needs the image push");
    }
    if (authorized) {
      await this.uploadService();
      await this.largePatch("PATCH 5 MiB", 5 * MiB);
      await this.largePatch("PATCH 11 MiB", 11 * MiB);
      await this.chunkedPatch();
      await this.cleanup();
    } else {
      for (const check of ["upload service", "PATCH 5 MiB", "PATCH 11 MiB", "chunked PATCH", "cleanup"]) this.skip(check, "needs a token");
    }
    return this.verdicts;
  }

  private verdict(status: Status, check: string, detail: string, fix?: string): void {
    this.verdicts.push({ status, check, detail, ...(fix && status !== "ok" && status !== "skip" ? { fix } : {}) });
  }

  private skip(check: string, why: string): void {
    this.verdict("skip", check, why);
  }

  /** One request. To the registry's origin it carries the token; elsewhere (storage, upload links) nothing. */
  private async send(method: string, target: string | URL, init: { headers?: Record<string, string>; body?: Uint8Array | ReadableStream<Uint8Array>; auth?: string } = {}): Promise<Sent> {
    const url = new URL(target, this.base);
    const headers: Record<string, string> = { ...init.headers };
    const authorization = init.auth ?? this.authorization;
    if (authorization && url.origin === this.base.origin) headers.authorization = authorization;
    try {
      const response = await this.io.fetch(url, {
        method,
        headers,
        redirect: "manual",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        ...(init.body !== undefined ? { body: init.body, duplex: "half" } : {}),
      } as RequestInit);
      return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
    } catch (e) {
      const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e instanceof Error ? e : new Error(String(e));
      const code = (cause as NodeJS.ErrnoException).code;
      return { error: `${method} ${url.origin}${url.pathname}: ${cause.message}${code && !cause.message.includes(code) ? ` (${code})` : ""}`, ...(code ? { code } : {}) };
    }
  }

  private async challenge(): Promise<boolean> {
    const check = "challenge";
    const a = await this.send("GET", "/v2/", { auth: "" });
    if (failed(a)) {
      this.verdict("FAIL", check, `cannot reach the registry: ${a.error}`, FIXES.url);
      return false;
    }
    if (a.status === 200) {
      this.verdict("ok", check, "GET /v2/ answers 200: an open registry, no login needed");
      this.realm = undefined;
      return true;
    }
    if (a.status !== 401) {
      this.verdict("FAIL", check, `GET /v2/ answered ${describe(a)}: not an OCI registry at this URL`, FIXES.url);
      return false;
    }
    const header = a.headers.get("www-authenticate");
    const remapped = a.headers.get("x-amzn-remapped-www-authenticate");
    const params = parseChallenge(header ?? remapped ?? "");
    if (!params?.realm) {
      this.verdict("FAIL", check, `401 without a Bearer challenge (WWW-Authenticate: ${JSON.stringify(header)})`, FIXES.challenge);
      return false;
    }
    this.realm = { realm: params.realm, service: params.service };
    if (!header) {
      this.verdict("FAIL", check, "WWW-Authenticate arrives renamed x-amzn-Remapped-WWW-Authenticate: docker, podman and skopeo cannot log in", FIXES.challenge);
    } else if (this.base.protocol === "https:" && !params.realm.startsWith("https:")) {
      this.verdict("FAIL", check, `the realm ${params.realm} is not https: clients would send keys in clear`, FIXES.realm);
    } else {
      this.verdict("ok", check, `401 with WWW-Authenticate: Bearer realm="${params.realm}",service="${params.service ?? ""}"`);
    }
    return true;
  }

  private async token(): Promise<boolean> {
    const check = "token";
    if (!this.realm) {
      this.verdict("skip", check, "an open registry issues no tokens");
      return true;
    }
    if (!this.credentials) {
      this.verdict("FAIL", check, "no credentials: none given, and none in the docker config for this registry", FIXES.credentials);
      return false;
    }
    const url = new URL(this.realm.realm);
    if (this.realm.service) url.searchParams.set("service", this.realm.service);
    url.searchParams.set("scope", `repository:${this.repository}:pull,push,delete`);
    const basic = `Basic ${Buffer.from(`${this.credentials.user}:${this.credentials.key}`).toString("base64")}`;
    let a: Sent;
    try {
      const response = await this.io.fetch(url, { headers: { authorization: basic }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      a = { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
    } catch (e) {
      const cause = e instanceof Error && e.cause instanceof Error ? e.cause : (e as Error);
      a = { error: `GET ${url.origin}${url.pathname}: ${cause.message}` };
    }
    if (failed(a) || a.status !== 200) {
      const refused = !failed(a) && a.status === 401;
      this.verdict("FAIL", check, `GET ${url.pathname} as ${this.credentials.user}: ${refused ? "the key was refused" : describe(a)}`, refused ? FIXES.credentials : FIXES.realm);
      return false;
    }
    let token: string | undefined;
    try {
      const body = JSON.parse(a.body.toString("utf8")) as { token?: string; access_token?: string };
      token = body.token ?? body.access_token;
    } catch {
      token = undefined;
    }
    if (!token) {
      this.verdict("FAIL", check, `GET ${url.pathname} answered 200 without a token`, FIXES.realm);
      return false;
    }
    this.authorization = `Bearer ${token}`;
    const granted = grantedActions(token, this.repository);
    if (granted && !granted.includes("push")) {
      this.verdict("FAIL", check, `the key of ${this.credentials.user} may not push to ${this.repository} (granted: ${granted.join(",") || "nothing"})`, FIXES.credentials);
      return false;
    }
    if (granted) this.mayDelete = granted.includes("delete");
    this.verdict("ok", check, `Basic ${this.credentials.user} → a token for ${this.repository}${granted ? ` (${granted.join(",")})` : ""}`);
    return true;
  }

  /** Opens an upload session; its Location, absolute. */
  private async startUpload(): Promise<URL | string> {
    const a = await this.send("POST", `/v2/${repositoryPath(this.repository)}/blobs/uploads/`);
    if (failed(a) || a.status !== 202 || !a.headers.get("location")) return `POST /blobs/uploads/: ${describe(a)}`;
    const location = new URL(a.headers.get("location")!, this.base);
    return location;
  }

  /** PUT …?digest= ending a session; undefined when the registry took the blob. */
  private async finishUpload(location: URL, digest: string, body?: Uint8Array): Promise<string | undefined> {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const a = await this.send("PUT", url, { headers: { "content-type": "application/octet-stream" }, ...(body ? { body } : {}) });
    if (failed(a) || a.status !== 201) return `PUT ?digest=: ${describe(a)}`;
    if (a.headers.get("docker-content-digest") !== digest) return `PUT ?digest= answered 201 with Docker-Content-Digest ${a.headers.get("docker-content-digest")}`;
    return undefined;
  }

  /** A blob in one POST + PUT (what containerd does); undefined on success. */
  private async pushBlob(bytes: Buffer): Promise<string | undefined> {
    const location = await this.startUpload();
    if (typeof location === "string") return location;
    const problem = await this.finishUpload(location, sha256(bytes), bytes);
    if (!problem) this.pushed.push({ digest: sha256(bytes), size: bytes.byteLength });
    return problem;
  }

  private async pushImage(): Promise<boolean> {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: {}, comment: "stratus doctor" }));
    const layer = randomBytes(64 * 1024);
    const blobProblem = (await this.pushBlob(config)) ?? (await this.pushBlob(layer));
    if (blobProblem) {
      this.verdict("FAIL", "blob push", blobProblem);
      this.skip("manifest push", "needs the blob push");
      return false;
    }
    this.layer = { digest: sha256(layer), bytes: layer };
    this.verdict("ok", "blob push", `POST + PUT ?digest= of ${formatBytes(config.byteLength)} and ${formatBytes(layer.byteLength)}: 201 with Docker-Content-Digest`);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.byteLength },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.byteLength }],
      }),
    );
    const a = await this.send("PUT", `/v2/${repositoryPath(this.repository)}/manifests/${TAG}`, { headers: { "content-type": OCI_MANIFEST }, body: manifest });
    if (failed(a) || a.status !== 201) {
      this.verdict("FAIL", "manifest push", `PUT /manifests/${TAG}: ${describe(a)}`);
      return false;
    }
    this.manifest = { digest: sha256(manifest), bytes: manifest };
    this.verdict("ok", "manifest push", `PUT /manifests/${TAG}: 201, ${this.manifest.digest.slice(0, 19)}…`);
    return true;
  }

  private async blobRedirect(): Promise<void> {
    const check = "blob redirect";
    const layer = this.layer!;
    const a = await this.send("GET", `/v2/${repositoryPath(this.repository)}/blobs/${layer.digest}`);
    if (failed(a)) return this.verdict("FAIL", check, a.error);
    if (a.status === 200) {
      const same = a.body.equals(layer.bytes);
      return this.verdict(same ? "warn" : "FAIL", check, `GET answered 200 with the bytes itself${same ? "" : ", and they differ"}: fine for a local server; through Lambda, blobs over ~6 MB cannot be pulled`, "--storage aws: pulls answer 307 to a presigned S3 URL");
    }
    const location = a.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(a.status) || !location) return this.verdict("FAIL", check, `GET answered ${describe(a)}`);
    const target = new URL(location, this.base);
    if (this.base.protocol === "https:" && target.protocol !== "https:") {
      return this.verdict("FAIL", check, `${a.status} to ${target.origin}: plain HTTP, layers would travel in clear`, FIXES.storageHttps);
    }
    const b = await this.send("GET", target);
    if (failed(b) || b.status !== 200) return this.verdict("FAIL", check, `${a.status} to ${target.origin}, which answered ${describe(b)}`, FIXES.storageHttps);
    if (!b.body.equals(layer.bytes)) return this.verdict("FAIL", check, `${a.status} to ${target.origin}, which served other bytes (${sha256(b.body)})`);
    this.verdict("ok", check, `GET answered ${a.status} to ${target.origin}, which served the bytes`);
  }

  private async blobHead(): Promise<void> {
    const check = "blob HEAD";
    const layer = this.layer!;
    const a = await this.send("HEAD", `/v2/${repositoryPath(this.repository)}/blobs/${layer.digest}`);
    if (failed(a)) return this.verdict("FAIL", check, a.error);
    const expected = String(layer.bytes.byteLength);
    if (a.status === 200) {
      const length = a.headers.get("content-length");
      if (length === expected) return this.verdict("ok", check, `200 with Content-Length ${expected}`);
      return this.verdict("FAIL", check, `200 with Content-Length ${length ?? "missing"}, not ${expected}: the gateway drops it; docker and containerd cannot size blobs`, FIXES.blobHead);
    }
    const location = a.headers.get("location");
    if ([302, 303, 307, 308].includes(a.status) && location) {
      const b = await this.send("HEAD", new URL(location, this.base));
      const length = failed(b) ? undefined : b.headers.get("content-length");
      if (!failed(b) && b.status === 200 && length === expected) return this.verdict("ok", check, `${a.status} to a HEAD URL on ${new URL(location, this.base).origin}: 200 with Content-Length ${expected}`);
      return this.verdict("FAIL", check, `${a.status} to ${new URL(location, this.base).origin}, which answered ${failed(b) ? b.error : `${b.status} with Content-Length ${length ?? "missing"}`}`);
    }
    this.verdict("FAIL", check, `HEAD answered ${describe(a)}`);
  }

  private async manifestHead(): Promise<void> {
    const check = "manifest HEAD";
    const manifest = this.manifest!;
    const a = await this.send("HEAD", `/v2/${repositoryPath(this.repository)}/manifests/${TAG}`, { headers: { accept: OCI_MANIFEST } });
    if (failed(a) || a.status !== 200) return this.verdict("FAIL", check, `HEAD /manifests/${TAG}: ${describe(a)}`);
    const expected = String(manifest.bytes.byteLength);
    const length = a.headers.get("content-length");
    const digest = a.headers.get("docker-content-digest");
    if (digest !== manifest.digest) return this.verdict("FAIL", check, `Docker-Content-Digest ${digest ?? "missing"}, not ${manifest.digest}`);
    if (length !== expected) {
      // containerd's resolver GETs a manifest whose HEAD has no size; docker GETs manifests anyway.
      return this.verdict("warn", check, `200 with Content-Length ${length ?? "missing"}, not ${expected}: clients fall back to a GET`, 'none needed; docs/lambda.md "Unsettled gateway behaviours"');
    }
    this.verdict("ok", check, `200 with Content-Length ${expected} and Docker-Content-Digest`);
  }

  private async encodedPath(): Promise<void> {
    const check = "encoded path";
    const manifest = this.manifest!;
    const path = `/v2/${repositoryPath(this.repository)}/manifests/${manifest.digest.replace(":", "%3A")}`;
    const a = await this.send("GET", path, { headers: { accept: OCI_MANIFEST } });
    if (failed(a) || a.status !== 200 || sha256(a.body) !== manifest.digest) {
      return this.verdict("FAIL", check, `GET …/manifests/sha256%3A…: ${describe(a)}`, FIXES.encodedPath);
    }
    // A decoded %3F must not become a query: the tag "stratus-doctor%3Fx" does not exist.
    const b = await this.send("GET", `/v2/${repositoryPath(this.repository)}/manifests/${TAG}%3Fx`, { headers: { accept: OCI_MANIFEST } });
    if (!failed(b) && b.status === 200) {
      return this.verdict("FAIL", check, `GET …/manifests/${TAG}%3Fx answered 200 with ${TAG}: the decoded "?" was read as a query`, FIXES.rawPath);
    }
    if (failed(b) || !isOciError(b)) return this.verdict("FAIL", check, `GET …/manifests/${TAG}%3Fx: ${describe(b)}, not an OCI error`, FIXES.rawPath);
    this.verdict("ok", check, `sha256%3A… finds the manifest; ${TAG}%3Fx is refused (${b.status})`);
  }

  private async uploadService(): Promise<void> {
    const check = "upload service";
    const session = await this.startUpload();
    if (typeof session === "string") return this.verdict("FAIL", check, session);
    try {
      if (session.origin === this.base.origin) return this.skip(check, "none: upload sessions stay on the registry host (requests up to ~4.5 MiB through Lambda)");
      if (session.protocol !== "https:") {
        const loopback = /^(localhost|127\.|\[::1\])/.test(session.hostname);
        return this.verdict(this.base.protocol === "https:" || !loopback ? "FAIL" : "warn", check, `${session.origin}: plain HTTP, upload links and layers travel in clear`, FIXES.uploadHttps);
      }
      // The session's own status (204) must come from a task: the load balancer forwards only upload
      // routes, and answers anything else itself (a 404 there says nothing about the tasks).
      const a = await this.send("GET", session);
      if (failed(a)) {
        const tls = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/i.test(`${a.code ?? ""} ${a.error}`);
        const dns = a.code === "ENOTFOUND" || a.code === "EAI_AGAIN";
        return this.verdict("FAIL", check, `${session.origin}: ${a.error}`, tls ? FIXES.uploadTls : dns ? FIXES.uploadDns : FIXES.uploadDown);
      }
      if (a.status !== 204) return this.verdict("FAIL", check, `${session.origin}: the upload session's status answered ${describe(a)}`, FIXES.uploadDown);
      this.verdict("ok", check, `${session.origin}: reachable over HTTPS, certificate valid, serves upload sessions`);
    } finally {
      await this.send("DELETE", session);
    }
  }

  /** One PATCH of `size` bytes with a Content-Length (skopeo, crane, docker classic), then the PUT. */
  private async largePatch(check: string, size: number): Promise<void> {
    const location = await this.startUpload();
    if (typeof location === "string") return this.verdict("FAIL", check, location);
    const bytes = randomBytes(size);
    const where = location.origin === this.base.origin ? "through the registry host" : `on the upload service ${location.origin}`;
    const a = await this.send("PATCH", location, { headers: { "content-type": "application/octet-stream" }, body: bytes });
    if (failed(a) || a.status !== 202) {
      await this.send("DELETE", location);
      if (location.origin === this.base.origin) {
        // A Lambda-only deployment: documented, but clients need the upload service for such layers.
        const seen = isOciError(a) ? `refused with the registry's error (${describe(a)})` : `refused before the registry: ${describe(a)}`;
        return this.verdict("warn", check, `${where}: ${seen}; skopeo, podman and docker cannot push layers this size`, FIXES.uploadService);
      }
      return this.verdict("FAIL", check, `${where}: ${describe(a)}`, FIXES.uploadDown);
    }
    const next = a.headers.get("location") ? new URL(a.headers.get("location")!, location) : location;
    const problem = await this.finishUpload(next, sha256(bytes));
    if (problem) return this.verdict("FAIL", check, `${where}: PATCH 202, then ${problem}`, location.origin === this.base.origin ? undefined : FIXES.uploadDown);
    this.pushed.push({ digest: sha256(bytes), size });
    this.verdict("ok", check, `${where}: PATCH 202, PUT 201`);
  }

  /** A PATCH with Transfer-Encoding: chunked and no Content-Length, as podman and buildah send. */
  private async chunkedPatch(): Promise<void> {
    const check = "chunked PATCH";
    const location = await this.startUpload();
    if (typeof location === "string") return this.verdict("FAIL", check, location);
    const bytes = randomBytes(256 * 1024);
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.byteLength) return controller.close();
        controller.enqueue(bytes.subarray(offset, offset + 64 * 1024));
        offset += 64 * 1024;
      },
    });
    const where = location.origin === this.base.origin ? "through the registry host" : `on the upload service ${location.origin}`;
    const a = await this.send("PATCH", location, { headers: { "content-type": "application/octet-stream" }, body });
    if (failed(a) || a.status !== 202) {
      await this.send("DELETE", location);
      const fix = location.origin === this.base.origin ? FIXES.uploadService : FIXES.uploadDown;
      return this.verdict("FAIL", check, `${where}: ${describe(a)}; podman and buildah push this way`, fix);
    }
    const next = a.headers.get("location") ? new URL(a.headers.get("location")!, location) : location;
    const problem = await this.finishUpload(next, sha256(bytes));
    if (problem) return this.verdict("FAIL", check, `${where}: PATCH 202, then ${problem}`);
    this.pushed.push({ digest: sha256(bytes), size: bytes.byteLength });
    this.verdict("ok", check, `${where}: PATCH 202 (chunked), PUT 201`);
  }

  private async cleanup(): Promise<void> {
    const check = "cleanup";
    const left: string[] = [];
    const refusals: string[] = [];
    const remove = async (path: string, label: string) => {
      const a = await this.send("DELETE", `/v2/${repositoryPath(this.repository)}/${path}`);
      if (failed(a) || (a.status !== 202 && a.status !== 404)) {
        left.push(label);
        refusals.push(describe(a));
      }
    };
    if (this.manifest) await remove(`manifests/${this.manifest.digest}`, "the manifest");
    for (const blob of this.pushed) await remove(`blobs/${blob.digest}`, formatBytes(blob.size));
    if (left.length === 0) return this.verdict("ok", check, `deleted what doctor pushed to ${this.repository}`);
    const why = this.mayDelete ? refusals[0]! : "the key may not delete";
    this.verdict("warn", check, `${this.repository} keeps ${left.join(", ")} (${why})`, FIXES.cleanup.replace("<repository>", this.repository));
  }
}
