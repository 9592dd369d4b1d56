import * as crypto from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { SqliteTenantStore } from "@stratus/storage-local";
import type { ApiKeyRecord, TenantId } from "@stratus/core";
import { generateApiKey, hashSecret, secretMatches } from "../../packages/core/src/auth/api-keys.ts";
import { Authenticator } from "../../packages/core/src/auth/authenticator.ts";

// How API keys are compared (DESIGN.md "Auth"): nothing about a stored secret may leak through the
// time a refusal takes. Two tests, at the Authenticator over a real SQLite tenant store:
// - structural: every key check, whatever is wrong with the key, goes through exactly one
//   crypto.timingSafeEqual of two 32-byte digests (node:crypto is wrapped, not replaced);
// - statistical: refusing a secret that differs from the stored one in its first character takes
//   as long as one that differs in its last. (Whether a key *id* exists is not hidden: ids are not
//   secret — the admin API lists them — and a storage hit costs more than a miss.) This only catches
//   coarse leaks (an early return, a skipped hash or lookup): a byte-wise `===` on two hex digests
//   differs by nanoseconds against microseconds of hashing and SQLite, which the structural test covers.
//
// In a file of its own: vi.mock of node:crypto applies per file, and none of this needs a deployment.

vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  const timingSafeEqual = vi.fn(original.timingSafeEqual);
  return { ...original, timingSafeEqual, default: { ...original, timingSafeEqual } };
});

const TENANT = "acme" as TenantId;
const clock = { now: () => Date.now() };

describe("API key comparison", () => {
  let dataDir: string;
  let store: SqliteTenantStore;
  let authenticator: Authenticator;
  let stored: { id: string; key: string; secret: string };
  let revoked: { id: string; key: string };

  async function storeKey(): Promise<{ id: string; key: string; secret: string }> {
    const generated = generateApiKey();
    const record: ApiKeyRecord = { id: generated.id, tenant: TENANT, role: "push", secretHash: generated.secretHash, createdAt: clock.now() };
    await store.createApiKey(record);
    return { id: generated.id, key: generated.key, secret: generated.key.slice(`stratus_${generated.id}_`.length) };
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "stratus-key-timing-"));
    store = new SqliteTenantStore({ dataDir });
    await store.createTenant({ id: TENANT, plan: "default", createdAt: clock.now(), generation: "g1" });
    authenticator = new Authenticator({ tenants: store, clock }, "operator-token-".padEnd(40, "x"));
    stored = await storeKey();
    revoked = await storeKey();
    await store.revokeApiKey(TENANT, revoked.id, clock.now());
    // Mark the stored key used now, so that valid checks below do not write in the background.
    await store.recordKeyUse(stored.id, clock.now());
  });
  afterAll(async () => {
    store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    vi.mocked(crypto.timingSafeEqual).mockClear();
  });

  /** The key string with one character of its secret replaced by another valid one. */
  const withSecretChar = (index: number) => {
    const chars = stored.secret.split("");
    chars[index] = chars[index] === "A" ? "B" : "A";
    return `stratus_${stored.id}_${chars.join("")}`;
  };
  const unknownId = () => `stratus_${"a".repeat(16)}_${stored.secret}`;

  it("secretMatches compares fixed-length digests with crypto.timingSafeEqual, also for an unknown key", () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    const hash = hashSecret(stored.secret);
    expect(secretMatches(stored.secret, hash)).toBe(true);
    // Another last character (one secret in 64 already ends with "A").
    const tampered = `${stored.secret.slice(0, -1)}${stored.secret.endsWith("A") ? "B" : "A"}`;
    expect(secretMatches(tampered, hash)).toBe(false);
    expect(secretMatches(stored.secret, undefined)).toBe(false);
    expect(secretMatches(stored.secret, "not-a-hex-digest")).toBe(false);
    expect(spy).toHaveBeenCalledTimes(4);
    for (const [a, b] of spy.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });

  it("every key check, valid or not, costs exactly one timingSafeEqual", async () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    const cases: [string, string, boolean][] = [
      ["valid", stored.key, true],
      ["first character differs", withSecretChar(0), false],
      ["last character differs", withSecretChar(42), false],
      ["unknown key id", unknownId(), false],
      ["revoked", revoked.key, false],
      ["malformed", "stratus_short", false],
      ["not a key at all", "password", false],
    ];
    for (const [what, key, valid] of cases) {
      spy.mockClear();
      expect((await authenticator.apiKey(key)) !== undefined, what).toBe(valid);
      expect(spy, what).toHaveBeenCalledTimes(1);
    }
    // The operator token is compared the same way.
    spy.mockClear();
    expect(authenticator.isOperatorToken("operator-token-".padEnd(40, "y"))).toBe(false);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  /**
   * Median time of one refused check for each key string: many interleaved rounds in a shuffled
   * order, so load from the other core hits every variant alike, and medians ignore the rounds a
   * pause landed in. Returns the ratio a/b of the two medians; a real difference shows in every
   * attempt, noise not, so up to three attempts are made until one is within the band.
   */
  async function timeRatio(a: string, b: string): Promise<{ ratio: number; inBand: boolean; report: string }> {
    const BATCH = 20;
    const sample = async (key: string) => {
      const started = process.hrtime.bigint();
      for (let i = 0; i < BATCH; i++) {
        if ((await authenticator.apiKey(key)) !== undefined) throw new Error("a wrong key was accepted");
      }
      return Number(process.hrtime.bigint() - started);
    };
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const attempts: string[] = [];
    let ratio = NaN;
    for (let attempt = 0; attempt < 3; attempt++) {
      for (let round = 0; round < 50; round++) await sample(round % 2 ? a : b); // warm-up
      const times = { a: [] as number[], b: [] as number[] };
      for (let round = 0; round < 400; round++) {
        if (Math.random() < 0.5) {
          times.a.push(await sample(a));
          times.b.push(await sample(b));
        } else {
          times.b.push(await sample(b));
          times.a.push(await sample(a));
        }
      }
      const [ma, mb] = [median(times.a) / BATCH, median(times.b) / BATCH];
      ratio = ma / mb;
      attempts.push(`${Math.round(ma)} ns vs ${Math.round(mb)} ns per check (ratio ${ratio.toFixed(3)})`);
      if (ratio >= 0.8 && ratio <= 1.25) return { ratio, inBand: true, report: attempts.join("; ") };
    }
    return { ratio, inBand: false, report: attempts.join("; ") };
  }

  it("refusing a secret takes as long whether it differs from the stored one in its first or its last character", async () => {
    const { inBand, report } = await timeRatio(withSecretChar(0), withSecretChar(42));
    expect(inBand, `first vs last character: ${report}`).toBe(true);
  }, 120_000);
});
