import { createHash, timingSafeEqual } from "node:crypto";
import { RegistryError } from "../errors.ts";
import type { ApiKeyRecord, Clock, TenantStore } from "../ports.ts";
import { parseApiKey, secretMatches } from "./api-keys.ts";
import { presentedCredentials } from "./credentials.ts";
import type { Principal } from "./principal.ts";

// Turns a presented secret into a Principal: an API key (any username; the key names its tenant)
// or the operator's bootstrap token. Unknown, malformed and revoked keys all cost the same hashing
// and one constant-time digest comparison, and answer the same undefined: nothing about a stored
// secret leaks. Whether a key id exists is not hidden (ids are not secret: the admin API lists them).

/** A key's last-used time is written at most this often, so busy keys don't cost a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class Authenticator {
  private readonly operatorTokenHash: Buffer | undefined;

  constructor(
    private readonly deps: { tenants: TenantStore; clock: Clock; onBackgroundError?: (error: unknown) => void },
    /** The operator's bootstrap credential, from configuration (a secret on AWS). */
    operatorToken: string | undefined,
  ) {
    this.operatorTokenHash = operatorToken ? sha256(operatorToken) : undefined;
  }

  /** The API key's principal, or undefined when the key is not valid now. */
  async apiKey(password: string): Promise<Extract<Principal, { kind: "key" }> | undefined> {
    const parsed = parseApiKey(password);
    const record = parsed ? await this.deps.tenants.getApiKey(parsed.id) : undefined;
    const matches = secretMatches(parsed?.secret ?? password, record?.secretHash);
    if (!parsed || !record || !matches || record.revokedAt !== undefined) return undefined;
    const now = this.deps.clock.now();
    if (record.lastUsedAt === undefined || now - record.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
      // Not awaited: recording use must not slow or fail the request it belongs to.
      this.deps.tenants.recordKeyUse(record.id, now).catch((e) => this.deps.onBackgroundError?.(e));
    }
    return keyPrincipal(record);
  }

  /** The key principal of a refresh token's key, if the key is still valid (not revoked, not deleted). */
  async keyById(keyId: string): Promise<Extract<Principal, { kind: "key" }> | undefined> {
    const record = await this.deps.tenants.getApiKey(keyId);
    if (!record || record.revokedAt !== undefined) return undefined;
    return keyPrincipal(record);
  }

  /**
   * The caller of the admin API: the operator's token (Bearer, or as a Basic password), an API key
   * (Basic), or anonymous without credentials. Credentials that are present but wrong are refused.
   */
  async adminCaller(request: Request): Promise<Principal> {
    const credentials = presentedCredentials(request.headers.get("authorization"));
    if (credentials.kind === "none") return { kind: "anonymous" };
    if (credentials.kind === "malformed") throw adminUnauthorized(credentials.reason);
    const secret = credentials.kind === "bearer" ? credentials.token : credentials.password;
    if (this.isOperatorToken(secret)) return { kind: "operator" };
    const key = credentials.kind === "basic" ? await this.apiKey(secret) : undefined;
    if (!key) throw adminUnauthorized("invalid credentials: use the operator token or an API key");
    return key;
  }

  isOperatorToken(secret: string): boolean {
    if (!this.operatorTokenHash) return false;
    return timingSafeEqual(sha256(secret), this.operatorTokenHash);
  }
}

function keyPrincipal(record: ApiKeyRecord): Extract<Principal, { kind: "key" }> {
  return { kind: "key", tenant: record.tenant, keyId: record.id, role: record.role, ...(record.repositories ? { repositories: record.repositories } : {}) };
}

function adminUnauthorized(message: string): RegistryError {
  return new RegistryError("UNAUTHORIZED", message, null, { status: 401, headers: { "www-authenticate": 'Basic realm="stratus-admin"' } });
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
