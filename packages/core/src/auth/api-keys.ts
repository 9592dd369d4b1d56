import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

// API key strings: "stratus_<id>_<secret>". The id (16 base32 characters) finds the record in one
// read; the secret (32 random bytes, base64url) is stored only as its SHA-256. A fast hash is
// enough for 256 random bits: there is nothing to guess. The prefix lets secret scanners spot keys.

const PREFIX = "stratus_";
const KEY_PATTERN = /^stratus_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

export interface NewApiKey {
  id: string;
  /** The whole key string, shown to its owner once. */
  key: string;
  secretHash: string;
}

export function generateApiKey(): NewApiKey {
  const id = Array.from(randomBytes(16), (b) => BASE32[b & 31]).join("");
  const secret = randomBytes(32).toString("base64url");
  return { id, key: `${PREFIX}${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a well-formed key string; undefined for anything else. */
export function parseApiKey(value: string): { id: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(value);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/**
 * Whether `secret` hashes to `storedHash`, in time independent of where they differ: both sides are
 * fixed-length digests compared with timingSafeEqual. Pass storedHash undefined (unknown key id) to
 * spend the same work and answer false.
 */
export function secretMatches(secret: string, storedHash: string | undefined): boolean {
  const presented = createHash("sha256").update(secret).digest();
  const stored = storedHash !== undefined && /^[0-9a-f]{64}$/.test(storedHash) ? Buffer.from(storedHash, "hex") : Buffer.alloc(32);
  return timingSafeEqual(presented, stored) && storedHash !== undefined;
}
