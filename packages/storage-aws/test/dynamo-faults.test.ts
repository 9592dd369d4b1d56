import { TransactionCanceledException, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand, DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { mockClient } from "aws-sdk-client-mock";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { StorageUnavailableError, digestOf } from "@stratus/core";
import type { Digest, ManifestRecord, RepositoryName, Tag, TenantId } from "@stratus/core";
import { dynamoClient, dynamoFixture, expectConsistent, scanTable, type DynamoFixture } from "./dynamo-fixture.ts";

// Faults between the store and DynamoDB, injected on the store's client only; everything else reaches
// DynamoDB Local, whose table is then read back: no fault may leave a half-written push behind.
// Throttling, 5xx and dropped connections are injected below the SDK (its HTTP handler) so that the
// SDK's own retries run as in production; the cancelled transaction is injected with aws-sdk-client-mock.

type Handle = NodeHttpHandler["handle"];
/** Answers in place of DynamoDB; `forward` sends the request on for real. */
type Fault = (forward: () => ReturnType<Handle>) => ReturnType<Handle>;

/** An HTTP handler that answers chosen DynamoDB operations with a fault and forwards the rest. */
class FaultInjector {
  private readonly real = new NodeHttpHandler();
  private rules: { operation: string; remaining: number; fault: Fault }[] = [];
  /** Operations as they went out, retries included. */
  readonly seen: string[] = [];

  inject(operation: string, fault: Fault, times = Infinity): void {
    this.rules.push({ operation, remaining: times, fault });
  }

  clear(): void {
    this.rules = [];
  }

  async handle(...[request, options]: Parameters<Handle>): ReturnType<Handle> {
    const operation = String(request.headers["x-amz-target"] ?? "").split(".").pop() ?? "";
    this.seen.push(operation);
    const rule = this.rules.find((r) => r.operation === operation && r.remaining > 0);
    if (!rule) return this.real.handle(request, options);
    rule.remaining--;
    return rule.fault(() => this.real.handle(request, options));
  }

  updateHttpClientConfig(key: never, value: never): void {
    this.real.updateHttpClientConfig(key, value);
  }
  httpHandlerConfigs() {
    return this.real.httpHandlerConfigs();
  }
  destroy(): void {
    this.real.destroy();
  }
}

function dynamoError(statusCode: number, type: string): Awaited<ReturnType<Handle>> {
  const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: `injected ${type}` });
  return {
    response: {
      statusCode,
      headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "injected" },
      body: Readable.from([Buffer.from(body)]),
    },
  } as unknown as Awaited<ReturnType<Handle>>;
}

const throttled = (type: string): Fault => async () => dynamoError(400, type);
const serverError: Fault = async () => dynamoError(500, "InternalServerError");
const connectionReset: Fault = async () => {
  throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
};
/** DynamoDB applies the request, but its answer never arrives: the SDK sends it again. */
const lostResponse: Fault = async (forward) => {
  await forward();
  return dynamoError(500, "InternalServerError");
};

const acme = "acme" as TenantId;
const web = "acme/web" as RepositoryName;
const blob = { digest: digestOf(new TextEncoder().encode("layer")) as Digest, size: 1_234 };
const bytes = new TextEncoder().encode('{"schemaVersion":2}');
const manifest: ManifestRecord = { repository: web, digest: digestOf(bytes), mediaType: "application/vnd.oci.image.manifest.v1+json", bytes, createdAt: 1 };

describe("DynamoMetadataStore under faults", () => {
  let fixture: DynamoFixture;
  let faults: FaultInjector;

  async function open(config: Partial<DynamoDBClientConfig> = {}) {
    faults = new FaultInjector();
    // maxAttempts pinned: the SDK's default for DynamoDB moves between releases (4 in this one).
    const client = dynamoClient({ requestHandler: faults as unknown as DynamoDBClientConfig["requestHandler"], maxAttempts: 3, ...config });
    fixture = await dynamoFixture({ retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 } }, client);
  }

  /** Nothing of a push or commit is in the table: no blob, link, tag, manifest, repository or counter. */
  async function expectUntouched(): Promise<void> {
    faults.clear();
    expect(await scanTable(fixture.table)).toEqual([]);
    expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 0, storedBytes: 0 });
    expect(await fixture.store.repositoryExists(web)).toBe(false);
  }

  afterEach(async () => {
    await fixture?.cleanup();
  });

  it("lets the SDK retry throttled reads until they succeed", async () => {
    await open();
    await fixture.store.commitBlob(acme, web, blob);
    faults.inject("GetItem", throttled("ProvisionedThroughputExceededException"), 1);
    faults.inject("GetItem", throttled("ThrottlingException"), 1);
    faults.seen.length = 0;
    expect(await fixture.store.findLinkedBlob(web, blob.digest)).toEqual(blob);
    expect(faults.seen).toEqual(["GetItem", "GetItem", "GetItem"]);
  });

  it("turns a transaction failing with 500 on every attempt into StorageUnavailableError, leaving nothing behind", async () => {
    await open();
    faults.inject("TransactWriteItems", serverError);
    await expect(fixture.store.commitBlob(acme, web, blob)).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(fixture.store.putManifest(acme, manifest, ["latest" as Tag])).rejects.toBeInstanceOf(StorageUnavailableError);
    // The SDK sent each transaction maxAttempts (3) times, then gave up; the store adds no retries of its own for a 500.
    expect(faults.seen.filter((op) => op === "TransactWriteItems")).toHaveLength(6);
    await expectUntouched();
  });

  it("counts a transaction once when its response is lost and the SDK sends it again", async () => {
    await open();
    faults.inject("TransactWriteItems", lostResponse, 1);
    await fixture.store.commitBlob(acme, web, blob);
    faults.inject("TransactWriteItems", lostResponse, 1);
    await fixture.store.putManifest(acme, manifest, ["latest" as Tag]);
    faults.clear();
    expect(await fixture.store.tenantUsage(acme)).toEqual({ repositories: 1, storedBytes: blob.size + bytes.length });
    expect(await fixture.store.manifestCount(web)).toBe(1);
    await expectConsistent(fixture);
  });

  it("gives up with StorageUnavailableError when every transaction is cancelled by a conflict, leaving nothing behind", async () => {
    await open();
    // aws-sdk-client-mock replaces send: TransactWriteItems always conflicts, every other command reaches DynamoDB Local.
    const realSend = DynamoDBDocumentClient.prototype.send;
    const mock = mockClient(DynamoDBDocumentClient);
    try {
      for (const Command of [GetCommand, BatchGetCommand, PutCommand, UpdateCommand, DeleteCommand, QueryCommand]) {
        const Passed = Command as unknown as new (input: unknown) => Parameters<typeof realSend>[0];
        mock.on(Command as never).callsFake((input: unknown, getClient: () => unknown) =>
          (realSend as (command: unknown) => Promise<unknown>).call(getClient(), new Passed(input)),
        );
      }
      const conflict = () =>
        new TransactionCanceledException({
          message: "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: [{ Code: "TransactionConflict", Message: "Transaction is ongoing for the item" }],
        });
      mock.on(TransactWriteCommand).callsFake(() => Promise.reject(conflict()));

      await expect(fixture.store.commitBlob(acme, web, blob)).rejects.toThrow(StorageUnavailableError);
      await expect(fixture.store.putManifest(acme, manifest, ["latest" as Tag])).rejects.toThrow(/still contended after 4 attempts/);
      // Each operation tried as often as its retry policy allows.
      expect(mock.commandCalls(TransactWriteCommand)).toHaveLength(8);
    } finally {
      mock.restore();
    }
    await expectUntouched();
  });

  it("turns a dropped connection into StorageUnavailableError once the SDK's retries are spent", async () => {
    await open({ maxAttempts: 2 });
    faults.inject("TransactWriteItems", connectionReset);
    const error = await fixture.store.commitBlob(acme, web, blob).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as Error).message).toMatch(/ECONNRESET/);
    faults.inject("GetItem", connectionReset);
    await expect(fixture.store.getManifest(web, { kind: "tag", tag: "latest" as Tag })).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(faults.seen.filter((op) => op === "GetItem")).toHaveLength(2);
    await expectUntouched();
  });
});
