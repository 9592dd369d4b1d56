import { randomUUID } from "node:crypto";
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { z } from "zod";
import type { Action, TenantId } from "../ports.ts";
import type { TokenKeySet } from "./token-keys.ts";

// Registry tokens (Docker token spec): short-lived access tokens listing exactly what they grant,
// and long-lived refresh tokens that stand for an API key and are checked against it on each use
// (so revoking the key ends them). Both are EdDSA JWTs; the JWT type header keeps one from passing
// as the other, and only EdDSA is accepted, so "alg": "none" or an HMAC forged with the public key
// cannot pass.

const ACCESS_TYPE = "at+jwt";
const REFRESH_TYPE = "rt+jwt";
/** Tolerated clock difference between the instances that sign and verify. */
const CLOCK_TOLERANCE_SECONDS = 30;

export type AccessEntry =
  | { type: "repository"; name: string; actions: Action[] }
  | { type: "registry"; name: "catalog"; actions: ["*"] };

const accessEntrySchema = z.union([
  z.object({ type: z.literal("repository"), name: z.string().max(255), actions: z.array(z.enum(["pull", "push", "delete"])).max(3) }),
  z.object({ type: z.literal("registry"), name: z.literal("catalog"), actions: z.tuple([z.literal("*")]) }),
]);

const accessClaimsSchema = z.object({
  sub: z.string(),
  access: z.array(accessEntrySchema).max(64),
  /** The tenant and repository patterns of a key's token, to filter the catalog. */
  ten: z.string().optional(),
  pat: z.array(z.string()).max(64).optional(),
  /**
   * The generation of each tenant the token names (its key's, and the owner of each repository it
   * grants): the registry refuses the token once a tenant was deleted (tenant-generations.ts).
   */
  gen: z.record(z.string().max(255), z.string().max(64)).refine((g) => Object.keys(g).length <= 65, "too many tenants").optional(),
});
export type AccessClaims = z.infer<typeof accessClaimsSchema>;

/**
 * Verified access tokens, by their exact string, until they expire. A client sends one token for a
 * whole pull (every layer), and an Ed25519 verification costs more than serving a manifest HEAD
 * (about 120 µs here), so each token is verified once per process. Only identical bytes that
 * already passed full verification hit; bounded, oldest entries evicted first.
 */
const VERIFIED_CACHE_ENTRIES = 10_000;

const refreshClaimsSchema = z.object({ sub: z.string(), ten: z.string() });

export interface TokenSettings {
  service: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

export class RegistryTokens {
  private readonly verified = new Map<string, { claims: AccessClaims; expiresAtMs: number }>();

  constructor(
    private readonly keys: TokenKeySet,
    private readonly settings: TokenSettings,
    private readonly now: () => number,
  ) {}

  get accessTtlSeconds(): number {
    return this.settings.accessTtlSeconds;
  }

  async issueAccess(claims: AccessClaims): Promise<{ token: string; issuedAt: Date }> {
    const issuedAt = new Date(Math.floor(this.now() / 1000) * 1000);
    return { token: await this.sign(claims, ACCESS_TYPE, issuedAt, this.settings.accessTtlSeconds), issuedAt };
  }

  async issueRefresh(keyId: string, tenant: TenantId): Promise<string> {
    return this.sign({ sub: keyId, ten: tenant }, REFRESH_TYPE, new Date(this.now()), this.settings.refreshTtlSeconds);
  }

  /** The claims of a valid access token; undefined for anything else (bad signature, expired, wrong type). */
  async verifyAccess(token: string): Promise<AccessClaims | undefined> {
    const cached = this.verified.get(token);
    if (cached) {
      if (this.now() < cached.expiresAtMs) return cached.claims;
      this.verified.delete(token);
    }
    const payload = await this.verify(token, ACCESS_TYPE);
    const parsed = accessClaimsSchema.safeParse(payload);
    if (!parsed.success) return undefined;
    if (this.verified.size >= VERIFIED_CACHE_ENTRIES) this.verified.delete(this.verified.keys().next().value!);
    // Cached only until exp itself (no clock tolerance): a hit never outlives what verify() would accept.
    this.verified.set(token, { claims: parsed.data, expiresAtMs: Number((payload as { exp: number }).exp) * 1000 });
    return parsed.data;
  }

  async verifyRefresh(token: string): Promise<{ keyId: string; tenant: TenantId } | undefined> {
    const parsed = refreshClaimsSchema.safeParse(await this.verify(token, REFRESH_TYPE));
    return parsed.success ? { keyId: parsed.data.sub, tenant: parsed.data.ten as TenantId } : undefined;
  }

  private async sign(claims: Record<string, unknown>, typ: string, issuedAt: Date, ttlSeconds: number): Promise<string> {
    const key = this.keys.signing;
    const iat = Math.floor(issuedAt.getTime() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ })
      .setIssuer(this.settings.service)
      .setAudience(this.settings.service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttlSeconds)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  private async verify(token: string, typ: string): Promise<unknown> {
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = this.keys.publicKey(header.kid);
          if (!key) throw new joseErrors.JWKSNoMatchingKey();
          return key;
        },
        {
          algorithms: ["EdDSA"],
          typ,
          issuer: this.settings.service,
          audience: this.settings.service,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(this.now()),
          requiredClaims: ["exp", "iat", "sub"],
        },
      );
      return payload;
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) return undefined;
      throw e;
    }
  }
}
