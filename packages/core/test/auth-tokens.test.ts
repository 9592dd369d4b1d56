import { createHash, generateKeyPairSync } from "node:crypto";
import { SignJWT, UnsecuredJWT, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { generateApiKey, parseApiKey, secretMatches } from "../src/auth/api-keys.ts";
import { presentedCredentials, MAX_AUTHORIZATION_LENGTH } from "../src/auth/credentials.ts";
import { parseScopes } from "../src/auth/scopes.ts";
import { TokenKeySet } from "../src/auth/token-keys.ts";
import { RegistryTokens } from "../src/auth/tokens.ts";

const SECRET_A = "a".repeat(20) + "-first-signing-secret";
const SECRET_B = "b".repeat(20) + "-second-signing-secret";
const settings = { service: "stratus.test", accessTtlSeconds: 300, refreshTtlSeconds: 86400 };
const claims = { sub: "key:acme/k1", access: [{ type: "repository" as const, name: "acme/web", actions: ["pull" as const] }] };

async function tokensWith(secrets: string[], now = () => Date.now()) {
  return new RegistryTokens(await TokenKeySet.fromSecrets(secrets), settings, now);
}

describe("token keys", () => {
  it("derives the same Ed25519 key and kid from the same secret, and refuses short secrets", async () => {
    const one = await TokenKeySet.fromSecrets([SECRET_A]);
    const two = await TokenKeySet.fromSecrets(`${SECRET_A}\n`);
    expect(one.signing.kid).toBe(two.signing.kid);
    expect(one.signing.publicKey.asymmetricKeyType).toBe("ed25519");
    await expect(TokenKeySet.fromSecrets(["short"])).rejects.toThrow(/at least 32/);
    await expect(TokenKeySet.fromSecrets("")).rejects.toThrow(/no token signing secret/);
  });

  it("rotates without downtime: tokens of the old key verify while both are configured", async () => {
    const before = await tokensWith([SECRET_A]);
    const old = (await before.issueAccess(claims)).token;
    const during = await tokensWith([SECRET_B, SECRET_A]); // new key signs, old one still verifies
    expect(await during.verifyAccess(old)).toMatchObject(claims);
    const fresh = (await during.issueAccess(claims)).token;
    expect(decodeProtectedHeader(fresh).kid).not.toBe(decodeProtectedHeader(old).kid);
    expect(await before.verifyAccess(fresh)).toBeUndefined(); // an instance not yet rotated refuses it: roll out "old new" first
    const after = await tokensWith([SECRET_B]);
    expect(await after.verifyAccess(old)).toBeUndefined();
    expect(await after.verifyAccess(fresh)).toMatchObject(claims);
  });
});

describe("registry tokens refuse forgeries", () => {
  it("accepts its own access token, with kid, EdDSA and the service as issuer and audience", async () => {
    const tokens = await tokensWith([SECRET_A]);
    const { token } = await tokens.issueAccess(claims);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "EdDSA", typ: "at+jwt" });
    expect(await tokens.verifyAccess(token)).toMatchObject(claims);
  });

  it("refuses alg none", async () => {
    const tokens = await tokensWith([SECRET_A]);
    const unsigned = new UnsecuredJWT({ ...claims }).setIssuer(settings.service).setAudience(settings.service).setIssuedAt().setExpirationTime("5m").encode();
    expect(await tokens.verifyAccess(unsigned)).toBeUndefined();
    // The same with the kid and typ a real token has.
    const [, payload] = unsigned.split(".");
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt", kid: (await TokenKeySet.fromSecrets([SECRET_A])).signing.kid })).toString("base64url");
    expect(await tokens.verifyAccess(`${header}.${payload}.`)).toBeUndefined();
  });

  it("refuses an expired token, and one not yet valid", async () => {
    let now = Date.now();
    const tokens = await tokensWith([SECRET_A], () => now);
    const { token } = await tokens.issueAccess(claims);
    now += 301_000 + 30_000; // past the TTL and the clock tolerance
    expect(await tokens.verifyAccess(token)).toBeUndefined();
    now -= 2 * 3600_000;
    expect(await tokens.verifyAccess(token)).toBeUndefined();
  });

  it("a token verified once (and cached) is still refused after it expires", async () => {
    let now = Date.now();
    const tokens = await tokensWith([SECRET_A], () => now);
    const { token } = await tokens.issueAccess(claims);
    expect(await tokens.verifyAccess(token)).toMatchObject(claims);
    expect(await tokens.verifyAccess(token)).toMatchObject(claims);
    now += 301_000 + 30_000; // past exp and the clock tolerance
    expect(await tokens.verifyAccess(token)).toBeUndefined();
  });

  it("refuses a token signed by another key, even with our kid", async () => {
    const tokens = await tokensWith([SECRET_A]);
    const ours = await TokenKeySet.fromSecrets([SECRET_A]);
    const { privateKey } = generateKeyPairSync("ed25519");
    const forged = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "EdDSA", kid: ours.signing.kid, typ: "at+jwt" })
      .setIssuer(settings.service).setAudience(settings.service).setIssuedAt().setExpirationTime("5m")
      .sign(privateKey);
    expect(await tokens.verifyAccess(forged)).toBeUndefined();
    const otherDeployment = await tokensWith([SECRET_B]);
    expect(await tokens.verifyAccess((await otherDeployment.issueAccess(claims)).token)).toBeUndefined();
  });

  it("refuses an HMAC token keyed with the public key (algorithm confusion)", async () => {
    const tokens = await tokensWith([SECRET_A]);
    const ours = await TokenKeySet.fromSecrets([SECRET_A]);
    const publicPem = ours.signing.publicKey.export({ type: "spki", format: "pem" });
    const forged = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "HS256", kid: ours.signing.kid, typ: "at+jwt" })
      .setIssuer(settings.service).setAudience(settings.service).setIssuedAt().setExpirationTime("5m")
      .sign(new TextEncoder().encode(String(publicPem)));
    expect(await tokens.verifyAccess(forged)).toBeUndefined();
  });

  it("keeps refresh and access tokens apart, and refuses another service's tokens", async () => {
    const tokens = await tokensWith([SECRET_A]);
    const refresh = await tokens.issueRefresh("k1", "acme" as never);
    expect(await tokens.verifyAccess(refresh)).toBeUndefined();
    expect(await tokens.verifyRefresh(refresh)).toEqual({ keyId: "k1", tenant: "acme" });
    expect(await tokens.verifyRefresh((await tokens.issueAccess(claims)).token)).toBeUndefined();
    const elsewhere = new RegistryTokens(await TokenKeySet.fromSecrets([SECRET_A]), { ...settings, service: "other" }, () => Date.now());
    expect(await tokens.verifyAccess((await elsewhere.issueAccess(claims)).token)).toBeUndefined();
  });

  it("refuses tampered claims and garbage", async () => {
    const tokens = await tokensWith([SECRET_A]);
    const { token } = await tokens.issueAccess(claims);
    const [h, , s] = token.split(".");
    const widened = Buffer.from(JSON.stringify({ ...claims, access: [{ type: "repository", name: "acme/web", actions: ["pull", "push"] }] })).toString("base64url");
    expect(await tokens.verifyAccess(`${h}.${widened}.${s}`)).toBeUndefined();
    for (const junk of ["", "a.b.c", "x".repeat(5000), `${h}..${s}`]) expect(await tokens.verifyAccess(junk)).toBeUndefined();
  });
});

describe("API keys", () => {
  it("are random, parse back, and only their own secret matches", () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key).toMatch(/^stratus_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
    expect(a.id).not.toBe(b.id);
    const parsed = parseApiKey(a.key)!;
    expect(parsed.id).toBe(a.id);
    expect(a.secretHash).toBe(createHash("sha256").update(parsed.secret).digest("hex"));
    expect(secretMatches(parsed.secret, a.secretHash)).toBe(true);
    expect(secretMatches(parsed.secret, b.secretHash)).toBe(false);
    expect(secretMatches(parsed.secret, undefined)).toBe(false);
    expect(secretMatches(parsed.secret, "not-hex")).toBe(false);
    for (const bad of ["", "stratus_", `${a.key}x`, a.key.replace("stratus_", "other_"), a.key.toUpperCase()]) expect(parseApiKey(bad)).toBeUndefined();
  });
});

describe("Authorization headers", () => {
  it("reads Basic and Bearer, and refuses malformed and oversized headers without throwing", () => {
    expect(presentedCredentials(null)).toEqual({ kind: "none" });
    expect(presentedCredentials(`Basic ${Buffer.from("acme:pw:with:colons").toString("base64")}`)).toEqual({ kind: "basic", username: "acme", password: "pw:with:colons" });
    expect(presentedCredentials("bearer abc.def.ghi")).toEqual({ kind: "bearer", token: "abc.def.ghi" });
    for (const bad of ["Basic", "Basic !!!", `Basic ${Buffer.from("nocolon").toString("base64")}`, "Bearer a b", "Digest x", "Bearer", `Bearer ${"a".repeat(MAX_AUTHORIZATION_LENGTH)}`, "Basic \u0000"]) {
      expect(presentedCredentials(bad).kind).toBe("malformed");
    }
  });
});

describe("scopes", () => {
  it("parses repository and catalog scopes, space-separated or repeated, and ignores the rest", () => {
    expect(parseScopes(["repository:acme/web:pull,push", "registry:catalog:*"])).toEqual([
      { type: "repository", name: "acme/web", actions: ["pull", "push"] },
      { type: "catalog" },
    ]);
    expect(parseScopes(["repository:a/b:pull repository(plugin):a/c:*"])).toEqual([
      { type: "repository", name: "a/b", actions: ["pull"] },
      { type: "repository", name: "a/c", actions: ["pull", "push", "delete"] },
    ]);
    expect(parseScopes(["repository:a/b:admin", "garbage", "repository::pull", "registry:other:*", `repository:${"a".repeat(300)}:pull`])).toEqual([]);
    expect(parseScopes(Array.from({ length: 100 }, (_, i) => `repository:a/r${i}:pull`))).toHaveLength(32);
  });
});
