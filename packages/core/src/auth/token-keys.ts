import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK } from "jose";

// The keys that sign and verify registry tokens: Ed25519 (JWS alg "EdDSA"), each derived from an
// operator secret, so a deployment needs nothing but random strings in its secret store (CDK can
// generate them; no key files to create). The first secret signs; every secret verifies. The kid
// is the public key's JWK thumbprint, so it changes with the key and never has to be configured.
//
// Rotation without downtime (docs/auth.md): "old" → "old new" (new verifies everywhere)
// → "new old" (new signs) → "new" once the old tokens have expired.

/** Shortest accepted secret: 32 characters of a random string carry well over 128 bits. */
export const MIN_TOKEN_SECRET_LENGTH = 32;

// PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export interface TokenKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export class TokenKeySet {
  private constructor(private readonly keys: readonly TokenKey[]) {}

  /** Keys from operator secrets (whitespace- or comma-separated in one string, or a list); the first signs. */
  static async fromSecrets(secrets: string | readonly string[]): Promise<TokenKeySet> {
    const list = typeof secrets === "string" ? secrets.split(/[\s,]+/).filter(Boolean) : secrets;
    if (list.length === 0) throw new Error("no token signing secret configured");
    const keys: TokenKey[] = [];
    for (const [i, secret] of list.entries()) {
      if (secret.length < MIN_TOKEN_SECRET_LENGTH) {
        throw new Error(`token signing secret ${i + 1} is ${secret.length} characters long; use at least ${MIN_TOKEN_SECRET_LENGTH} random characters`);
      }
      const seed = createHash("sha256").update(`stratus-token-key\0${secret}`).digest();
      const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
      const publicKey = createPublicKey(privateKey);
      const kid = (await calculateJwkThumbprint(await exportJWK(publicKey))).slice(0, 16);
      keys.push({ kid, privateKey, publicKey });
    }
    return new TokenKeySet(keys);
  }

  get signing(): TokenKey {
    return this.keys[0]!;
  }

  /** The public key for a token's kid; undefined for a kid this deployment does not know. */
  publicKey(kid: string | undefined): KeyObject | undefined {
    return this.keys.find((k) => k.kid === kid)?.publicKey;
  }

  get kids(): string[] {
    return this.keys.map((k) => k.kid);
  }
}
