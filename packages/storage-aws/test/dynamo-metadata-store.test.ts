import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RegistryError, digestOf } from "@stratus/core";
import type { Digest, ManifestRecord, QuotaOutcome, RepositoryName, Tag, TenantId, TenantLimits, UploadId, UploadSession } from "@stratus/core";
import { metadataStoreContract } from "../../../test/contracts/metadata-store.contract.ts";
import { uploadUsageContract } from "../../../test/contracts/upload-usage.contract.ts";
import { awsBackends, uniqueName } from "../../../test/aws/support/backends.ts";
import { countRequests } from "../../../test/aws/support/request-counter.ts";
import { createS3Client } from "../src/s3-client.ts";
import { openAwsStorage, SESSION_TTL_BACKSTOP_SECONDS } from "../src/index.ts";
import { DynamoMetadataStore } from "../src/dynamo-metadata-store.ts";
import { S3ManifestOverflow } from "../src/s3-manifest-overflow.ts";
import { comparable, dynamoClient, dynamoFixture, expectConsistent, scanTable, type DynamoFixture } from "./dynamo-fixture.ts";

// Contract sessions carry 1970 timestamps: a TTL of a century keeps them alive.
const CENTURY = 100 * 365 * 24 * 3600;

metadataStoreContract("DynamoMetadataStore on DynamoDB Local", () => dynamoFixture({ sessionTtlSeconds: CENTURY }));
uploadUsageContract("DynamoMetadataStore on DynamoDB Local", async () => {
  const fixture = await dynamoFixture({ sessionTtlSeconds: CENTURY });
  // Every counter must also agree with the items it counts once the test is done.
  return { store: fixture.store, cleanup: async () => {
    try {
      await expectConsistent(fixture);
    } finally {
      await fixture.cleanup();
    }
  } };
});

const acme = "acme" as TenantId;
const web = "acme/web" as RepositoryName;
const tag = (name: string) => name as Tag;
const encode = (s: string) => new TextEncoder().encode(s);
const digest = (seed: string): Digest => digestOf(encode(seed));

/** A manifest record with its bytes as length and digest, for quick deep equality of large manifests. */
const summary = (m: ManifestRecord | undefined) => (m === undefined ? undefined : { ...m, bytes: comparable(m.bytes) });

const UNLIMITED = Number.MAX_SAFE_INTEGER;
const limited = (set: Partial<TenantLimits>): TenantLimits => ({ repositories: UNLIMITED, storedBytes: UNLIMITED, manifestsPerRepository: UNLIMITED, uploadSessions: UNLIMITED, ...set });

function manifest(repository: RepositoryName, body: string | Uint8Array, extra: Partial<ManifestRecord> = {}): ManifestRecord {
  const bytes = typeof body === "string" ? encode(body) : body;
  return { repository, digest: digestOf(bytes), mediaType: "application/vnd.oci.image.manifest.v1+json", bytes, createdAt: 1_000, ...extra };
}

describe("DynamoMetadataStore", () => {
  let fixture: DynamoFixture;
  afterEach(async () => {
    await fixture?.cleanup();
  });

  describe("under races", () => {
    beforeEach(async () => {
      fixture = await dynamoFixture();
    });

    it("counts a blob committed concurrently from many repositories once, with exact links", async () => {
      const b = { digest: digest("hot-layer"), size: 4_096 };
      const repos = Array.from({ length: 6 }, (_, i) => `acme/r${i}` as RepositoryName);
      await Promise.all(Array.from({ length: 30 }, (_, i) => fixture.store.commitBlob(acme, repos[i % repos.length]!, b)));
      expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 6, storedBytes: 4_096 });
      const [blobItem] = (await scanTable(fixture.table)).filter((i) => i.SK === `B#${b.digest}`);
      expect(blobItem?.links).toBe(6);
      await expectConsistent(fixture);

      // Unlinking everywhere at once: exactly one caller gets the orphan, and the bytes leave the usage.
      const results = await Promise.all(repos.flatMap((r) => [fixture.store.unlinkBlob(acme, r, b.digest), fixture.store.unlinkBlob(acme, r, b.digest)]));
      expect(results.filter((r) => r.unlinked)).toHaveLength(6);
      expect(results.filter((r) => r.orphan)).toEqual([{ unlinked: true, orphan: b }]);
      expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 6, storedBytes: 0 });
      await expectConsistent(fixture);
    });

    it("keeps every item consistent when pushes of one tag race", async () => {
      const pushed = Array.from({ length: 16 }, (_, i) => manifest(web, `{"racer":${i}}`, { subject: digest("base") }));
      await Promise.all(pushed.map((m, i) => fixture.store.putManifest(acme, m, [tag("latest"), tag(`v${i}`)])));
      const latest = await fixture.store.getManifest(web, { kind: "tag", tag: tag("latest") });
      expect(pushed.map((m) => m.digest)).toContain(latest?.digest);
      expect(await fixture.store.manifestCount(web)).toBe(16);
      expect((await fixture.store.listReferrers(web, digest("base"))).length).toBe(16);
      const usage = await expectConsistent(fixture);
      expect(usage.get("acme")).toEqual({ repositories: 1, storedBytes: pushed.reduce((sum, m) => sum + m.bytes.length, 0) });
    });

    it("stays consistent when deletes race pushes of the same manifests and tags", async () => {
      const a = manifest(web, '{"a":1}');
      const b = manifest(web, '{"b":2}');
      for (let round = 0; round < 4; round++) {
        await fixture.store.putManifest(acme, a, [tag("latest"), tag("stable")]);
        await Promise.all([
          fixture.store.deleteManifest(web, a.digest),
          fixture.store.putManifest(acme, a, [tag("again")]),
          fixture.store.putManifest(acme, b, [tag("latest")]),
          fixture.store.deleteManifest(web, b.digest),
          fixture.store.putManifest(acme, b, [tag("stable")]),
          fixture.store.deleteTag(web, tag("stable")),
        ]);
        await expectConsistent(fixture);
      }
    });
  });

  describe("quotas", () => {
    beforeEach(async () => {
      fixture = await dynamoFixture();
    });

    /**
     * Runs `racer` (through a second store on the table) right after `work`'s first BatchGetItem: the
     * racer takes the room `work` read as free, so `work`'s conditional transaction must fail.
     */
    async function raceAfterRead<T>(work: () => Promise<T>, racer: (other: DynamoMetadataStore) => Promise<QuotaOutcome>) {
      const otherClient = dynamoClient();
      const other = new DynamoMetadataStore({ client: otherClient, tableName: fixture.table });
      let armed = true;
      const name = `race-after-read-${randomUUID()}`;
      fixture.client.middlewareStack.add(
        (next, context) => async (args) => {
          const out = await next(args);
          if (armed && context.commandName === "BatchGetItemCommand") {
            armed = false;
            expect(await racer(other)).toEqual({ ok: true });
          }
          return out;
        },
        { step: "initialize", name },
      );
      const counter = countRequests(fixture.client);
      try {
        return await counter.measure(work);
      } finally {
        counter.detach();
        fixture.client.middlewareStack.remove(name);
        otherClient.destroy();
      }
    }

    it("refuses, writing nothing, a blob whose bytes a racer took between the read and the transaction", async () => {
      const limits = limited({ storedBytes: 100 });
      await fixture.store.commitBlob(acme, web, { digest: digest("base"), size: 60 }, limits);
      const late = { digest: digest("late"), size: 40 };
      const run = await raceAfterRead(
        () => fixture.store.commitBlob(acme, web, late, limits),
        (other) => other.commitBlob(acme, web, { digest: digest("racer"), size: 30 }, limits),
      );
      expect(run.result).toEqual({ ok: false, limit: "storedBytes", max: 100, usage: 90 });
      // Read, transaction cancelled by the usage condition, read again: refused without a second write.
      expect(run.counts).toEqual({ BatchGetItem: 2, TransactWriteItems: 1 });
      expect(await fixture.store.findBlob(acme, late.digest)).toBeUndefined();
      expect((await expectConsistent(fixture)).get("acme")).toEqual({ repositories: 1, storedBytes: 90 });
    });

    it("refuses, writing nothing, a repository whose slot a racer took between the read and the transaction", async () => {
      const limits = limited({ repositories: 2 });
      await fixture.store.commitBlob(acme, web, { digest: digest("base"), size: 1 }, limits);
      const run = await raceAfterRead(
        () => fixture.store.putManifest(acme, manifest("acme/late" as RepositoryName, '{"late":1}'), [tag("v1")], limits),
        (other) => other.commitBlob(acme, "acme/racer" as RepositoryName, { digest: digest("racer"), size: 1 }, limits),
      );
      expect(run.result).toEqual({ ok: false, limit: "repositories", max: 2, usage: 2 });
      expect(await fixture.store.repositoryExists("acme/late" as RepositoryName)).toBe(false);
      expect((await expectConsistent(fixture)).get("acme")).toEqual({ repositories: 2, storedBytes: 2 });
    });

    it("refuses, writing nothing, a manifest whose place a racer took between the read and the transaction", async () => {
      const limits = limited({ manifestsPerRepository: 2 });
      await fixture.store.putManifest(acme, manifest(web, '{"base":1}'), [tag("base")], limits);
      const late = manifest(web, '{"late":1}');
      const run = await raceAfterRead(
        () => fixture.store.putManifest(acme, late, [tag("late")], limits),
        (other) => other.putManifest(acme, manifest(web, '{"racer":1}'), [tag("racer")], limits),
      );
      expect(run.result).toEqual({ ok: false, limit: "manifestsPerRepository", max: 2, usage: 2 });
      expect(await fixture.store.getManifest(web, { kind: "tag", tag: tag("late") })).toBeUndefined();
      expect(await fixture.store.manifestCount(web)).toBe(2);
      await expectConsistent(fixture);
    });

    it("checks limits within the usual one read and one transaction", async () => {
      const limits = limited({ repositories: 10, storedBytes: 10_000, manifestsPerRepository: 10 });
      const counter = countRequests(fixture.client);
      const commit = await counter.measure(() => fixture.store.commitBlob(acme, web, { digest: digest("layer"), size: 10 }, limits));
      const push = await counter.measure(() => fixture.store.putManifest(acme, manifest(web, '{"cheap":1}'), [tag("v1")], limits));
      const mount = await counter.measure(() => fixture.store.linkBlob(acme, "acme/api" as RepositoryName, digest("layer"), limits));
      for (const m of [commit, push, mount]) expect(m.counts).toEqual({ BatchGetItem: 1, TransactWriteItems: 1 });
      // Usage and manifest count: one GetItem each.
      expect((await counter.measure(() => fixture.store.tenantUsage(acme))).counts).toEqual({ GetItem: 1 });
      expect((await counter.measure(() => fixture.store.manifestCount(web))).counts).toEqual({ GetItem: 1 });
      counter.detach();
    });

    it("keeps every item consistent when pushes race for the last room of every limit", async () => {
      const limits = limited({ repositories: 4, storedBytes: 2_000, manifestsPerRepository: 3 });
      const repos = Array.from({ length: 6 }, (_, i) => `acme/q${i}` as RepositoryName);
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 24; i++) {
        const repository = repos[i % repos.length]!;
        work.push(fixture.store.commitBlob(acme, repository, { digest: digest(`q-${i % 10}`), size: 150 }, limits));
        work.push(fixture.store.putManifest(acme, manifest(repository, `{"q":${i}}`), [tag("latest"), tag(`v${i}`)], limits));
      }
      await Promise.all(work);
      const usage = (await expectConsistent(fixture)).get("acme")!;
      expect(usage.repositories).toBeLessThanOrEqual(4);
      expect(usage.storedBytes).toBeLessThanOrEqual(2_000);
      for (const repository of repos) expect(await fixture.store.manifestCount(repository)).toBeLessThanOrEqual(3);
    });
  });

  describe("pagination", () => {
    beforeEach(async () => {
      fixture = await dynamoFixture();
    });

    it("pages through 250 tags of one push, 100 at a time, in lexical order", async () => {
      // 250 tags with their manifest copies do not fit one transaction: the push spreads over several.
      const names = Array.from({ length: 250 }, (_, i) => `t-${String((i * 7919) % 1000).padStart(4, "0")}`);
      const m = manifest(web, `{"tags":250,"pad":"${"x".repeat(2_000)}"}`);
      await fixture.store.putManifest(acme, m, names.map(tag));
      const sorted = [...names].sort();
      const seen: string[] = [];
      const pages: boolean[] = [];
      let after: string | undefined;
      for (;;) {
        const page = (await fixture.store.listTags(web, after === undefined ? { limit: 100 } : { limit: 100, after }))!;
        seen.push(...page.items);
        pages.push(page.more);
        if (!page.more) break;
        after = page.items.at(-1);
      }
      expect(seen).toEqual(sorted);
      expect(pages).toEqual([true, true, false]);
      expect(summary(await fixture.store.getManifest(web, { kind: "tag", tag: tag(sorted[200]!) }))).toEqual(summary(m));
      // Deleting the manifest takes all 250 tags with it.
      expect(await fixture.store.deleteManifest(web, m.digest)).toBe(true);
      expect(await fixture.store.listTags(web, { limit: 100 })).toEqual({ items: [], more: false });
      await expectConsistent(fixture);
    });

    it("spreads a push whose tag copies exceed a transaction's 4 MB over several transactions", async () => {
      const m = manifest(web, `{"pad":"${"y".repeat(200_000)}"}`);
      const names = Array.from({ length: 30 }, (_, i) => tag(`big-${i}`));
      const counter = countRequests(fixture.client);
      const push = await counter.measure(() => fixture.store.putManifest(acme, m, names));
      expect(push.counts.TransactWriteItems).toBeGreaterThanOrEqual(2);
      expect((await fixture.store.listTags(web, { limit: 100 }))?.items).toHaveLength(30);
      expect(summary(await fixture.store.getManifest(web, { kind: "tag", tag: tag("big-29") }))).toEqual(summary(m));
      await expectConsistent(fixture);
      const removal = await counter.measure(() => fixture.store.deleteManifest(web, m.digest));
      expect(removal.result).toBe(true);
      expect(removal.counts.TransactWriteItems).toBeGreaterThanOrEqual(2);
      expect(await scanTable(fixture.table).then((items) => items.filter((i) => i.SK.startsWith("T#")))).toEqual([]);
      counter.detach();
    });
  });

  describe("deleting a repository", () => {
    beforeEach(async () => {
      fixture = await dynamoFixture();
    });

    /** Whether a TransactWriteItems input (marshalled or not yet) is deleteRepository's last transaction: it deletes a marker. */
    const removesMarker = (input: unknown) =>
      ((input as { TransactItems?: { Delete?: { Key?: { SK?: unknown } } }[] }).TransactItems ?? []).some((item) => {
        const sk = item.Delete?.Key?.SK;
        return sk === "R" || (sk as { S?: string } | undefined)?.S === "R";
      });

    /** Runs `work` with `hook` called once, through a second store on the table, when `when` says so (before or after the request). */
    async function racing<T>(
      work: () => Promise<T>,
      when: { command: string; test?: (input: unknown) => boolean; after?: boolean },
      hook: (other: DynamoMetadataStore) => Promise<void>,
    ) {
      const otherClient = dynamoClient();
      const other = new DynamoMetadataStore({ client: otherClient, tableName: fixture.table });
      let armed = true;
      const name = `racing-${randomUUID()}`;
      fixture.client.middlewareStack.add(
        (next, context) => async (args) => {
          const hit = armed && context.commandName === when.command && (when.test?.(args.input) ?? true);
          if (hit && !when.after) {
            armed = false;
            await hook(other);
          }
          const out = await next(args);
          if (hit && when.after) {
            armed = false;
            await hook(other);
          }
          return out;
        },
        { step: "initialize", name },
      );
      const counter = countRequests(fixture.client);
      try {
        return await counter.measure(work);
      } finally {
        counter.detach();
        fixture.client.middlewareStack.remove(name);
        otherClient.destroy();
      }
    }

    it("deletes a link that lands just before its last transaction, which the link cancels", async () => {
      const first = { digest: digest("first"), size: 10 };
      const late = { digest: digest("late"), size: 5 };
      await fixture.store.commitBlob(acme, web, first);
      await fixture.store.putManifest(acme, manifest(web, '{"d":1}'), [tag("v1")]);
      const run = await racing(
        () => fixture.store.deleteRepository(acme, web),
        { command: "TransactWriteItemsCommand", test: removesMarker },
        async (other) => expect(await other.commitBlob(acme, web, late)).toEqual({ ok: true }),
      );
      expect(run.result.deleted).toBe(true);
      expect([...run.result.orphans].sort((a, b) => a.size - b.size)).toEqual([late, first]);
      // Two rounds: the first last transaction was cancelled by the link, whose unlink came before the second.
      expect(run.counts.TransactWriteItems).toBe(1 + 1 + 1 + 1 + 1);
      expect(await fixture.store.repositoryExists(web)).toBe(false);
      expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 0, storedBytes: 0 });
      expect(await scanTable(fixture.table).then((items) => items.filter((i) => i.PK.startsWith("R#") || i.PK === "CATALOG"))).toEqual([]);
      await expectConsistent(fixture);
    });

    it("lets a push that read the repository before the delete create it anew after, counted once", async () => {
      await fixture.store.commitBlob(acme, web, { digest: digest("old"), size: 100 });
      await fixture.store.putManifest(acme, manifest(web, '{"old":1}'), [tag("v1")]);
      const late = { digest: digest("late"), size: 7 };
      const run = await racing(
        () => fixture.store.commitBlob(acme, web, late),
        { command: "BatchGetItemCommand", after: true },
        async (other) => expect((await other.deleteRepository(acme, web)).deleted).toBe(true),
      );
      expect(run.result).toEqual({ ok: true });
      // The link's transaction found no marker (cancelled), read again and created the repository.
      expect(run.counts).toEqual({ BatchGetItem: 2, TransactWriteItems: 2 });
      expect(await fixture.store.listRepositories({ limit: 10 })).toEqual({ items: [web], more: false });
      expect(await fixture.store.findLinkedBlob(web, late.digest)).toEqual(late);
      expect(await fixture.store.listTags(web, { limit: 10 })).toEqual({ items: [], more: false });
      expect((await expectConsistent(fixture)).get("acme")).toEqual({ repositories: 1, storedBytes: 7 });
    });

    it("deletes a repository whose marker was written before markers had versions", async () => {
      const unversioned = async () => {
        const client = dynamoClient();
        await DynamoDBDocumentClient.from(client).send(new UpdateCommand({ TableName: fixture.table, Key: { PK: `R#${web}`, SK: "R" }, UpdateExpression: "REMOVE ver" }));
        client.destroy();
      };
      const legacy = { digest: digest("legacy"), size: 3 };
      await fixture.store.commitBlob(acme, web, legacy);
      await unversioned();
      expect(await fixture.store.deleteRepository(acme, web)).toEqual({ deleted: true, orphans: [legacy] });
      expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 0, storedBytes: 0 });
      // A link added since gives it a version; the delete works either way.
      await fixture.store.commitBlob(acme, web, legacy);
      await unversioned();
      await fixture.store.commitBlob(acme, web, { digest: digest("since"), size: 4 });
      expect((await scanTable(fixture.table)).find((i) => i.SK === "R")?.ver).toEqual(expect.any(String));
      expect((await fixture.store.deleteRepository(acme, web)).orphans).toHaveLength(2);
      await expectConsistent(fixture);
    });

    it("stays consistent when deletes race pushes into the same repository", async () => {
      for (let round = 0; round < 3; round++) {
        await fixture.store.commitBlob(acme, web, { digest: digest(`base-${round}`), size: 10 });
        await Promise.all([
          fixture.store.deleteRepository(acme, web),
          fixture.store.deleteRepository(acme, web),
          ...Array.from({ length: 4 }, (_, i) => fixture.store.putManifest(acme, manifest(web, `{"round":${round},"i":${i}}`), [tag(`v${i}`), tag("latest")])),
          ...Array.from({ length: 4 }, (_, i) => fixture.store.commitBlob(acme, web, { digest: digest(`race-${round}-${i}`), size: 10 + i })),
        ]);
        await expectConsistent(fixture);
      }
    });
  });

  describe("upload sessions", () => {
    // The store's clock runs a month ahead: its sessions are past their TTL for the store, but not
    // for DynamoDB Local, whose TTL sweeper would otherwise delete them in the middle of a test.
    const now = Math.ceil(Date.now() / 1000 + 30 * 24 * 3600) * 1000;
    const session = (updatedAt: number): UploadSession => ({
      id: randomUUID() as UploadId, repository: web, tenant: acme, size: 0, staging: {}, createdAt: updatedAt, updatedAt,
    });
    beforeEach(async () => {
      fixture = await dynamoFixture({ sessionTtlSeconds: 60, clock: { now: () => now } });
    });

    it("hides sessions past their TTL even before DynamoDB deletes them, but lists them for the sweep", async () => {
      const stale = session(now - 61_000);
      const live = session(now - 59_000);
      await fixture.store.createUpload(stale);
      await fixture.store.createUpload(live);
      expect(await fixture.store.getUpload(stale.id)).toBeUndefined();
      expect(await fixture.store.getUpload(live.id)).toEqual(live);
      const [item] = (await scanTable(fixture.table)).filter((i) => i.PK === `U#${stale.id}`);
      expect(item?.ttl).toBe(Math.ceil((now - 61_000) / 1000) + 60);
      expect((await fixture.store.listIdleUploads(now, 10)).map((s) => s.id)).toEqual([stale.id, live.id]);
    });

    it("moves the TTL with every update", async () => {
      const s = session(now - 59_000);
      await fixture.store.createUpload(s);
      expect(await fixture.store.updateUpload({ ...s, size: 5, updatedAt: now }, 0)).toBe(true);
      const [item] = (await scanTable(fixture.table)).filter((i) => i.PK === `U#${s.id}`);
      expect(item?.ttl).toBe(now / 1000 + 60);
    });

    it("sets the TTL a week past the upload TTL in production storage: a backstop the sweep never lets fire", async () => {
      const backends = awsBackends();
      const storage = openAwsStorage({
        bucket: "unused", table: fixture.table, region: backends.region, presignSeconds: 900, uploadTtlSeconds: 3_600,
        dynamodbEndpoint: backends.dynamoEndpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" },
      });
      try {
        const s = session(now);
        await storage.metadata.createUpload(s);
        const [item] = (await scanTable(fixture.table)).filter((i) => i.PK === `U#${s.id}`);
        expect(item?.ttl).toBe(now / 1000 + 3_600 + SESSION_TTL_BACKSTOP_SECONDS);
        expect(SESSION_TTL_BACKSTOP_SECONDS).toBe(7 * 24 * 3600);
      } finally {
        storage.close();
      }
    });

    it("counts out only the sessions it counted in: sessions written before counting leave the figures alone", async () => {
      // A session item as the store wrote it before counting existed: no `counted`, not in the usage item.
      const legacy = session(now);
      const doc = DynamoDBDocumentClient.from(fixture.client);
      await doc.send(new PutCommand({
        TableName: fixture.table,
        Item: {
          PK: `U#${legacy.id}`, SK: "U", id: legacy.id, repository: web, tenant: acme, size: 0, staging: "{}", createdAt: now, updatedAt: now,
          ttl: now / 1000 + 60, idlePK: "IDLE#0", idleSK: `${String(now).padStart(15, "0")}#${legacy.id}`,
        },
      }));
      const counted = session(now);
      await fixture.store.createUpload(counted);
      expect(await fixture.store.updateUpload({ ...legacy, size: 40 }, 0)).toBe(true);
      expect(await fixture.store.updateUpload({ ...counted, size: 7 }, 0)).toBe(true);
      expect(await fixture.store.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 7, storedBytes: 0 });
      await fixture.store.deleteUpload(legacy.id);
      expect(await fixture.store.uploadUsage(acme)).toEqual({ sessions: 1, stagedBytes: 7, storedBytes: 0 });
      await fixture.store.deleteUpload(counted.id);
      expect(await fixture.store.uploadUsage(acme)).toEqual({ sessions: 0, stagedBytes: 0, storedBytes: 0 });
      await expectConsistent(fixture);
    });
  });

  describe("cost", () => {
    beforeEach(async () => {
      fixture = await dynamoFixture();
    });

    it("answers a blob HEAD and a manifest GET by tag or digest with one request each", async () => {
      const counter = countRequests(fixture.client);
      const b = { digest: digest("layer"), size: 10 };
      const m = manifest(web, '{"cost":1}');
      const commit = await counter.measure(() => fixture.store.commitBlob(acme, web, b));
      const push = await counter.measure(() => fixture.store.putManifest(acme, m, [tag("v1")]));
      // Reads first (one BatchGetItem), then one transaction.
      expect(commit.counts).toEqual({ BatchGetItem: 1, TransactWriteItems: 1 });
      expect(push.counts).toEqual({ BatchGetItem: 1, TransactWriteItems: 1 });

      const head = await counter.measure(() => fixture.store.findLinkedBlob(web, b.digest));
      const byTag = await counter.measure(() => fixture.store.getManifest(web, { kind: "tag", tag: tag("v1") }));
      const byDigest = await counter.measure(() => fixture.store.getManifest(web, { kind: "digest", digest: m.digest }));
      const missing = await counter.measure(() => fixture.store.getManifest(web, { kind: "tag", tag: tag("nope") }));
      expect(head).toMatchObject({ counts: { GetItem: 1 }, total: 1, result: b });
      expect(byTag).toMatchObject({ counts: { GetItem: 1 }, total: 1, result: m });
      expect(byDigest).toMatchObject({ counts: { GetItem: 1 }, total: 1, result: m });
      expect(missing).toMatchObject({ counts: { GetItem: 1 }, total: 1 });
      // Strongly consistent reads of items under 4 KB: one RCU each.
      for (const read of [head, byTag, byDigest]) expect(read.capacity).toEqual({ GetItem: 1 });
      counter.detach();
    });
  });
});

describe("DynamoMetadataStore with large manifests in S3 (radosgw)", () => {
  let s3: S3Client;
  let bucket: string;
  let fixture: DynamoFixture;
  let prefix: string;

  beforeAll(async () => {
    const backends = awsBackends();
    s3 = createS3Client({
      region: backends.region,
      endpoint: backends.s3Endpoint,
      credentials: { accessKeyId: backends.accessKeyId, secretAccessKey: backends.secretAccessKey },
    });
    bucket = uniqueName("stratus-manifests");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(() => s3?.destroy());
  beforeEach(async () => {
    prefix = `${randomUUID()}/`;
    fixture = await dynamoFixture({ overflow: new S3ManifestOverflow({ client: s3, bucket, prefix }), inlineManifestBytes: 64 * 1024 });
  });
  afterEach(async () => {
    await fixture.cleanup();
  });

  async function objects(): Promise<string[]> {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!);
  }

  const big = (seed: string, size: number) => `{"schemaVersion":2,"seed":"${seed}","pad":"${"p".repeat(size)}"}\n`;

  it("stores a manifest over the inline limit in S3 and serves it byte for byte by tag and by digest", async () => {
    const m = manifest(web, big("one", 300_000), { subject: digest("img"), annotations: { "org.example": "x" } });
    await fixture.store.putManifest(acme, m, [tag("big"), tag("huge")]);
    expect(await objects()).toHaveLength(1);
    const byTag = await fixture.store.getManifest(web, { kind: "tag", tag: tag("huge") });
    const byDigest = await fixture.store.getManifest(web, { kind: "digest", digest: m.digest });
    expect(summary(byTag)).toEqual(summary(m));
    expect(summary(byDigest)).toEqual(summary(m));
    expect(Buffer.from(byTag!.bytes).equals(Buffer.from(m.bytes))).toBe(true);
    expect(await fixture.store.listReferrers(web, digest("img"))).toEqual([
      { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length, annotations: { "org.example": "x" } },
    ]);
    const usage = await expectConsistent(fixture);
    expect(usage.get("acme")?.storedBytes).toBe(m.bytes.length);

    expect(await fixture.store.deleteManifest(web, m.digest)).toBe(true);
    expect(await objects()).toEqual([]);
    expect(await fixture.store.getManifest(web, { kind: "tag", tag: tag("big") })).toBeUndefined();
    await expectConsistent(fixture);
  });

  it("keeps annotations too large for an item in S3 as well", async () => {
    const annotations = { "org.example.notes": "n".repeat(70_000) };
    const m = manifest(web, big("annotated", 1_000), { subject: digest("img"), annotations });
    await fixture.store.putManifest(acme, m, [tag("notes")]);
    expect(await objects()).toHaveLength(2);
    expect(summary(await fixture.store.getManifest(web, { kind: "tag", tag: tag("notes") }))).toEqual(summary(m));
    expect((await fixture.store.listReferrers(web, digest("img")))[0]?.annotations).toEqual(annotations);
    await fixture.store.deleteManifest(web, m.digest);
    expect(await objects()).toEqual([]);
  });

  it("leaves one object when the same large manifest is pushed concurrently", async () => {
    const m = manifest(web, big("contended", 200_000));
    await Promise.all(Array.from({ length: 6 }, (_, i) => fixture.store.putManifest(acme, m, [tag(`t${i}`)])));
    expect(await objects()).toHaveLength(1);
    expect(summary(await fixture.store.getManifest(web, { kind: "tag", tag: tag("t3") }))).toEqual(summary(m));
    await expectConsistent(fixture);
  });

  it("answers undefined for an overflow object that is not there, and deletes idempotently", async () => {
    const overflow = new S3ManifestOverflow({ client: s3, bucket, prefix });
    await overflow.put("a/b", encode("bytes"));
    expect(new TextDecoder().decode(await overflow.get("a/b"))).toBe("bytes");
    await overflow.delete("a/b");
    await overflow.delete("a/b");
    expect(await overflow.get("a/b")).toBeUndefined();
  });

  it("refuses a manifest over the inline limit with 413 when no overflow store is configured", async () => {
    const bare = await dynamoFixture({ inlineManifestBytes: 64 * 1024 }, dynamoClient());
    try {
      const error = await bare.store.putManifest(acme, manifest(web, big("nowhere", 100_000)), []).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryError);
      expect(error).toMatchObject({ code: "MANIFEST_INVALID", status: 413 });
      expect(await bare.store.repositoryExists(web)).toBe(false);
    } finally {
      await bare.cleanup();
    }
  });
});
