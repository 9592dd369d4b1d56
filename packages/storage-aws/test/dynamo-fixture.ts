import { DeleteTableCommand, DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { expect } from "vitest";
import { digestOf } from "@stratus/core";
import type { RepositoryName, TenantId } from "@stratus/core";
import { awsBackends, uniqueName } from "../../../test/aws/support/backends.ts";
import { DynamoMetadataStore, type DynamoMetadataStoreOptions } from "../src/dynamo-metadata-store.ts";
import { createTable } from "../src/dynamo-table.ts";

// A fresh table per test on the shared DynamoDB Local (tables are cheap in -inMemory), and an
// invariant check that reads the whole table back: after any race or fault the items must agree.

export function dynamoClient(config: Partial<DynamoDBClientConfig> = {}): DynamoDBClient {
  const backends = awsBackends();
  return new DynamoDBClient({
    endpoint: backends.dynamoEndpoint,
    region: backends.region,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    ...config,
  });
}

export interface DynamoFixture {
  store: DynamoMetadataStore;
  client: DynamoDBClient;
  table: string;
  cleanup(): Promise<void>;
}

export async function dynamoFixture(
  options: Omit<DynamoMetadataStoreOptions, "client" | "tableName"> = {},
  client: DynamoDBClient = dynamoClient(),
): Promise<DynamoFixture> {
  const table = uniqueName("stratus");
  // Table admin through a client of its own: fault injection on `client` must not hit it.
  const admin = dynamoClient();
  await createTable(admin, table);
  const store = new DynamoMetadataStore({ client, tableName: table, ...options });
  return {
    store,
    client,
    table,
    async cleanup() {
      await admin.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
      admin.destroy();
      client.destroy();
    },
  };
}

export type RawItem = Record<string, unknown> & { PK: string; SK: string };

export async function scanTable(table: string): Promise<RawItem[]> {
  const client = dynamoClient();
  const doc = DynamoDBDocumentClient.from(client);
  const items: RawItem[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
    items.push(...((out.Items ?? []) as RawItem[]));
    start = out.LastEvaluatedKey;
  } while (start);
  client.destroy();
  return items;
}

/** Large byte arrays compared by digest: vitest's deep equality walks them element by element. */
export function comparable(value: unknown): unknown {
  return value instanceof Uint8Array ? `${value.byteLength} bytes, ${digestOf(value)}` : value;
}

const BODY = ["digest", "mediaType", "size", "createdAt", "subject", "artifactType", "annotations", "annotationsKey", "bytes", "bytesKey"];

/**
 * Checks every cross-item invariant of the table: tags point at manifests and carry their body,
 * referrers match manifests with a subject, link counts match links, and every counter equals what
 * the items it counts add up to (upload sessions and staged bytes included). Returns the usage figures it computed.
 */
export async function expectConsistent(fixture: DynamoFixture): Promise<Map<string, { repositories: number; storedBytes: number }>> {
  const items = await scanTable(fixture.table);
  const byKey = new Map(items.map((i) => [`${i.PK}|${i.SK}`, i]));
  const owner = new Map<string, string>();
  for (const i of items) if (i.SK === "R") owner.set(i.PK.slice(2), String(i.tenant));
  const catalog = items.filter((i) => i.PK === "CATALOG").map((i) => i.SK).sort();
  expect(catalog).toEqual([...owner.keys()].sort());

  const expected = new Map<string, { repositories: number; storedBytes: number }>();
  const usageOf = (tenant: string) => expected.get(tenant) ?? (expected.set(tenant, { repositories: 0, storedBytes: 0 }), expected.get(tenant)!);
  for (const tenant of owner.values()) usageOf(tenant).repositories++;
  const manifests = new Map<string, number>();
  const links = new Map<string, number>();

  for (const i of items) {
    const repository = i.PK.startsWith("R#") ? i.PK.slice(2) : undefined;
    if (repository !== undefined && i.SK !== "R") expect(owner.has(repository), `${i.PK} ${i.SK} without repository marker`).toBe(true);
    if (repository !== undefined && i.SK.startsWith("M#")) {
      manifests.set(repository, (manifests.get(repository) ?? 0) + 1);
      usageOf(owner.get(repository)!).storedBytes += Number(i.size);
      expect(i.tenant).toBe(owner.get(repository));
      if (i.subject !== undefined) expect(byKey.has(`${i.PK}|S#${i.subject}#${i.digest}`), `referrer of ${i.SK}`).toBe(true);
    }
    if (repository !== undefined && i.SK.startsWith("T#")) {
      const manifest = byKey.get(`${i.PK}|M#${i.digest}`);
      expect(manifest, `${i.PK} ${i.SK} points at a missing manifest`).toBeDefined();
      for (const name of BODY) expect(comparable(i[name]), `${i.SK}.${name}`).toEqual(comparable(manifest![name]));
      expect([...((manifest!.tags as Set<string>) ?? [])]).toContain(i.SK.slice(2));
    }
    if (repository !== undefined && i.SK.startsWith("S#")) {
      const digest = i.SK.slice(i.SK.lastIndexOf("#") + 1);
      expect(byKey.get(`${i.PK}|M#${digest}`)?.subject, `referrer ${i.SK} without its manifest`).toBe(i.SK.slice(2, i.SK.lastIndexOf("#")));
    }
    if (repository !== undefined && i.SK.startsWith("L#")) {
      const blobKey = `T#${owner.get(repository)}|B#${i.SK.slice(2)}`;
      const blob = byKey.get(blobKey);
      expect(blob, `link ${i.PK} ${i.SK} without its blob`).toBeDefined();
      expect({ size: i.size, location: i.location }).toEqual({ size: blob!.size, location: blob!.location });
      links.set(blobKey, (links.get(blobKey) ?? 0) + 1);
    }
  }
  for (const i of items.filter((i) => i.PK.startsWith("T#") && i.SK.startsWith("B#"))) {
    expect(Number(i.links), `links of ${i.PK} ${i.SK}`).toBe(links.get(`${i.PK}|${i.SK}`) ?? 0);
    expect(Number(i.links)).toBeGreaterThan(0);
    usageOf(i.PK.slice(2)).storedBytes += Number(i.size);
  }
  for (const [tenant, usage] of expected) expect(await fixture.store.tenantUsage(tenant as TenantId), `usage of ${tenant}`).toEqual(usage);
  // Open upload sessions and their staged bytes, as the usage item counts them (sessions written before counting are not).
  const uploads = new Map<string, { sessions: number; stagedBytes: number }>();
  for (const i of items.filter((i) => i.PK.startsWith("T#") && i.SK === "U")) uploads.set(i.PK.slice(2), { sessions: 0, stagedBytes: 0 });
  for (const i of items.filter((i) => i.PK.startsWith("U#") && i.counted === 1)) {
    const counted = uploads.get(String(i.tenant)) ?? { sessions: 0, stagedBytes: 0 };
    uploads.set(String(i.tenant), { sessions: counted.sessions + 1, stagedBytes: counted.stagedBytes + Number(i.size) });
  }
  for (const [tenant, counted] of uploads) {
    const { sessions, stagedBytes } = await fixture.store.uploadUsage(tenant as TenantId);
    expect({ sessions, stagedBytes }, `upload usage of ${tenant}`).toEqual(counted);
  }
  for (const repository of owner.keys()) {
    expect(await fixture.store.manifestCount(repository as RepositoryName), `manifests of ${repository}`).toBe(manifests.get(repository) ?? 0);
  }
  return expected;
}
