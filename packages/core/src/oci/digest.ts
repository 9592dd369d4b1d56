import { createHash } from "node:crypto";
import { RegistryError } from "../errors.ts";

// A digest as the spec defines it (descriptor.md "Digests"): algorithm ":" encoded.
// Parse once at the edge; inside core a Digest is always well formed and of a supported algorithm.
export type Digest = string & { readonly __brand: "Digest" };
export type DigestAlgorithm = "sha256" | "sha512";

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
export const MAX_DIGEST_LENGTH = 7 + 1 + 128;

export function tryParseDigest(value: string): Digest | undefined {
  if (value.length > MAX_DIGEST_LENGTH || !GRAMMAR.test(value)) return undefined;
  const [algorithm, encoded] = value.split(":") as [string, string];
  if (algorithm !== "sha256" && algorithm !== "sha512") return undefined;
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(encoded)) return undefined;
  return value as Digest;
}

/** Throws DIGEST_INVALID naming what was wrong with the value. */
export function parseDigest(value: string, what = "digest"): Digest {
  const digest = tryParseDigest(value);
  if (digest) return digest;
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  throw new RegistryError(
    "DIGEST_INVALID",
    `invalid ${what} "${shown}": expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>`,
    { [what]: shown },
  );
}

export function isDigest(value: string): boolean {
  return tryParseDigest(value) !== undefined;
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(":")) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}` as Digest;
}
