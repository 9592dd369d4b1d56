import { DeleteTableCommand, PutItemCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestOf } from "@stratus/core";
import type { ApiKeyRecord, RepositoryName, Tag, TenantId } from "@stratus/core";
import { tenantStoreContract } from "../../../test/contracts/tenant-store.contract.ts";
import { uniqueName } from "../../../test/aws/support/backends.ts";
import { countRequests } from "../../../test/aws/support/request-counter.ts";
import { createTable } from "../src/dynamo-table.ts";
import { DynamoTenantStore } from "../src/dynamo-tenant-store.ts";
import { dynamoClient, dynamoFixture, expectConsistent, scanTable, type DynamoFixture } from "./dynamo-fixture.ts";

interface TenantFixture {
  store: DynamoTenantStore;
  client: DynamoDBClient;
  table: string;
  cleanup(): Promise<void>;
}

/** A fresh table per test on the shared DynamoDB Local, the metadata store's own definition. */
async function tenantFixture(): Promise<TenantFixture> {
  const table = uniqueName("stratus-tenants");
  const admin = dynamoClient();
  await createTable(admin, table);
  const client = dynamoClient();
  return {
    store: new DynamoTenantStore({ client, tableName: table }),
    client,
    table,
    async cleanup() {
      await admin.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
      admin.destroy();
      client.destroy();
    },
  };
}

tenantStoreContract("DynamoTenantStore on DynamoDB Local", tenantFixture);

const acme = "acme" as TenantId;
const globex = "globex" as TenantId;
const web = "acme/web" as RepositoryName;

function apiKey(id: string, tenant: TenantId, createdAt: number): ApiKeyRecord {
  return { id, tenant, role: "push", secretHash: "ef".repeat(32), createdAt };
}

describe("DynamoTenantStore", () => {
  describe("cost", () => {
    let fixture: TenantFixture;
    beforeEach(async () => {
      fixture = await tenantFixture();
    });
    afterEach(() => fixture.cleanup());

    it("authenticates with one GetItem and records use with one UpdateItem", async () => {
      const k = apiKey("abcdefghijklmnop", acme, 1);
      await fixture.store.createApiKey(k);
      const counter = countRequests(fixture.client);
      const get = await counter.measure(() => fixture.store.getApiKey(k.id));
      expect(get).toMatchObject({ counts: { GetItem: 1 }, total: 1, result: k, readUnits: { GetItem: 1 } });
      const missing = await counter.measure(() => fixture.store.getApiKey("zzzzzzzzzzzzzzzz"));
      expect(missing).toMatchObject({ counts: { GetItem: 1 }, total: 1 });
      const use = await counter.measure(() => fixture.store.recordKeyUse(k.id, 5));
      expect(use).toMatchObject({ counts: { UpdateItem: 1 }, total: 1, writeUnits: { UpdateItem: 1 } });
      const revoke = await counter.measure(() => fixture.store.revokeApiKey(acme, k.id, 6));
      expect(revoke).toMatchObject({ counts: { UpdateItem: 1 }, total: 1, result: true });
      counter.detach();
    });

    it("answers visibility with one GetItem, lists keys with one Query and one BatchGetItem", async () => {
      await fixture.store.setVisibility(acme, web, "public");
      for (let i = 0; i < 3; i++) await fixture.store.createApiKey(apiKey(`abcdefghijklmno${i}`, acme, i));
      const counter = countRequests(fixture.client);
      expect(await counter.measure(() => fixture.store.getVisibility(web))).toMatchObject({ counts: { GetItem: 1 }, total: 1, result: "public" });
      expect(await counter.measure(() => fixture.store.getVisibility("acme/other" as RepositoryName))).toMatchObject({
        counts: { GetItem: 1 },
        total: 1,
        result: "private",
      });
      const list = await counter.measure(() => fixture.store.listApiKeys(acme));
      expect(list).toMatchObject({ counts: { Query: 1, BatchGetItem: 1 }, total: 2 });
      expect(list.result.map((k) => k.id)).toEqual(["abcdefghijklmno0", "abcdefghijklmno1", "abcdefghijklmno2"]);
      expect(await counter.measure(() => fixture.store.listApiKeys(globex))).toMatchObject({ counts: { Query: 1 }, total: 1, result: [] });
      expect(await counter.measure(() => fixture.store.createTenant({ id: acme, plan: "default", createdAt: 1, generation: "g1" }))).toMatchObject({
        counts: { PutItem: 1 },
        total: 1,
        result: true,
      });
      expect(await counter.measure(() => fixture.store.listTenants({ limit: 10 }))).toMatchObject({ counts: { Query: 1 }, total: 1 });
      counter.detach();
    });
  });

  describe("in the metadata store's table", () => {
    let fixture: DynamoFixture;
    let tenants: DynamoTenantStore;
    beforeEach(async () => {
      fixture = await dynamoFixture();
      tenants = new DynamoTenantStore({ client: fixture.client, tableName: fixture.table });
    });
    afterEach(() => fixture.cleanup());

    it("keeps its items apart from the metadata store's, both ways", async () => {
      const bytes = new TextEncoder().encode('{"schemaVersion":2}');
      const manifest = { repository: web, digest: digestOf(bytes), mediaType: "application/vnd.oci.image.manifest.v1+json", bytes, createdAt: 5 };
      await fixture.store.commitBlob(acme, web, { digest: digestOf(new Uint8Array([1])), size: 1 });
      await fixture.store.putManifest(acme, manifest, ["v1" as Tag]);

      await tenants.createTenant({ id: acme, plan: "pro", createdAt: 1, generation: "g1" });
      await tenants.putPlan({ name: "pro", limits: { repositories: 1, storedBytes: 2, manifestsPerRepository: 3, uploadSessions: 4 } });
      await tenants.createApiKey(apiKey("abcdefghijklmnop", acme, 1));
      await tenants.setVisibility(acme, web, "public");

      // The catalog, usage and tenant partitions of the metadata store see none of it.
      expect(await fixture.store.listRepositories({ limit: 10 })).toEqual({ items: [web], more: false });
      expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: 1 + bytes.length });
      await expectConsistent(fixture);
      const mine = (await scanTable(fixture.table)).filter((i) => ["TENANTS", "PLANS", "PUBLIC"].includes(i.PK) || /^(K|TN)#/.test(i.PK));
      expect(mine.map((i) => `${i.PK} ${i.SK}`).sort()).toEqual(
        ["K#abcdefghijklmnop K", "PLANS pro", "PUBLIC acme/web", "TENANTS acme", "TN#acme K#abcdefghijklmnop", "TN#acme V#acme/web"].sort(),
      );
      // No tenant-store item carries the idle index's keys or a TTL.
      for (const item of mine) expect(Object.keys(item).filter((name) => ["idlePK", "idleSK", "ttl"].includes(name))).toEqual([]);

      // Deleting the tenant leaves the registry content alone.
      expect(await tenants.deleteTenant(acme)).toBe(true);
      expect(await fixture.store.getManifest(web, { kind: "tag", tag: "v1" as Tag })).toEqual(manifest);
      expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: 1 + bytes.length });
      await expectConsistent(fixture);
      expect((await scanTable(fixture.table)).filter((i) => /^(K|TN)#/.test(i.PK) || ["TENANTS", "PUBLIC"].includes(i.PK))).toEqual([]);
    });

    it("reads a tenant stored before generations existed with a fixed generation no new tenant gets", async () => {
      await fixture.client.send(new PutItemCommand({ TableName: fixture.table, Item: { PK: { S: "TENANTS" }, SK: { S: "acme" }, plan: { S: "default" }, createdAt: { N: "7" } } }));
      const legacy = await tenants.getTenant(acme);
      expect(legacy).toStrictEqual({ id: acme, plan: "default", createdAt: 7, generation: "created-7" });
      expect((await tenants.listTenants({ limit: 10 })).items).toStrictEqual([legacy]);
      // Deleted and created again (core gives new tenants a random generation): the old one no longer matches.
      expect(await tenants.deleteTenant(acme)).toBe(true);
      await tenants.createTenant({ id: acme, plan: "default", createdAt: 7, generation: "Q2hhbmdlZC1nZW4x" });
      expect((await tenants.getTenant(acme))?.generation).toBe("Q2hhbmdlZC1nZW4x");
    });

    it("moves a public repository's pointer when another tenant makes it public", async () => {
      await tenants.setVisibility(acme, web, "public");
      await tenants.setVisibility(globex, web, "public");
      const pointers = (await scanTable(fixture.table)).filter((i) => i.PK.startsWith("TN#")).map((i) => `${i.PK} ${i.SK}`);
      expect(pointers).toEqual(["TN#globex V#acme/web"]);
      expect(await tenants.deleteTenant(acme)).toBe(false);
      expect(await tenants.getVisibility(web)).toBe("public");
      expect(await tenants.deleteTenant(globex)).toBe(false);
      expect(await tenants.getVisibility(web)).toBe("private");
    });
  });
});
