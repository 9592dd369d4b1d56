import {
  BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand,
  type DeleteCommandInput, type DynamoDBDocumentClient, type PutCommandInput, type QueryCommandInput,
  type TransactWriteCommandInput, type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { StorageUnavailableError } from "@stratus/core";
import type { Key } from "./dynamo-keys.ts";

// Every DynamoDB call of the metadata store goes through here, so that AWS errors stop here:
// a failed condition becomes a domain answer (false, "read again"), a transaction cancelled by a
// conflict is retried with backoff, and anything else (throttling that outlasted the SDK's own
// retries, 5xx, a dropped connection) becomes StorageUnavailableError: a 503 the client retries.

export type Item = Record<string, unknown> & Key;
export type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

export interface RetryPolicy {
  /** Read-then-write attempts before giving up with StorageUnavailableError. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 10, baseDelayMs: 10, maxDelayMs: 500 };

// TransactWriteItems limits: 100 items, 4 MB in all. The size is estimated, so leave room.
const MAX_TRANSACT_ITEMS = 100;
const MAX_TRANSACT_BYTES = 3_500_000;
// Cancellation reasons worth another attempt; any other (ValidationError, ...) is a failure.
const RETRYABLE_REASONS = new Set(["None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"]);

/** The state an attempt read has changed (a condition failed) or another transaction holds an item (a conflict). */
export class Contention extends Error {
  constructor(readonly reason: "condition" | "conflict", options?: { cause?: unknown }) {
    super(`transaction cancelled: ${reason}`, options);
    this.name = "Contention";
  }
}

const hasName = (error: unknown, name: string): boolean => error instanceof Error && error.name === name;

/**
 * A failure of DynamoDB or of the network, once the SDK's retries are spent, as StorageUnavailableError.
 * The SDK stamps $metadata on what it throws past its retry middleware (service and network errors);
 * a socket error that escaped it still has its errno code. Anything else is ours (a marshalling bug) and passes.
 */
function unavailable(what: string, error: unknown): unknown {
  if (error instanceof StorageUnavailableError || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (!("$metadata" in error) && typeof code !== "string" && error.name !== "TimeoutError") return error;
  const detail = [error.name, typeof code === "string" ? code : undefined].filter((s) => s !== undefined && s !== "Error").join(", ");
  return new StorageUnavailableError(`DynamoDB ${what} failed${detail ? ` (${detail})` : ""}: ${error.message}`, { cause: error });
}

export class DynamoIo {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  /** One item, strongly consistent: the registry reads its own writes (a pull right after a push). */
  async get(what: string, key: Key): Promise<Item | undefined> {
    const out = await this.call(what, () => this.doc.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true })));
    return out.Item as Item | undefined;
  }

  /**
   * Several items in one BatchGetItem (per 100 keys), strongly consistent, in the order of `keys`.
   * A `projection` (which must name PK and SK) trims what comes back, not what the read costs.
   */
  async getMany(what: string, keys: Key[], projection?: { expression: string; names: Record<string, string> }): Promise<(Item | undefined)[]> {
    const found = new Map<string, Item>();
    const id = (k: Key) => `${k.PK}\u0000${k.SK}`;
    const unique = [...new Map(keys.map((k) => [id(k), { PK: k.PK, SK: k.SK }])).values()];
    for (let start = 0; start < unique.length; start += 100) {
      let pending: Record<string, unknown>[] = unique.slice(start, start + 100);
      for (let round = 1; pending.length > 0; round++) {
        const out = await this.call(what, () =>
          this.doc.send(new BatchGetCommand({
            RequestItems: {
              [this.table]: {
                Keys: pending,
                ConsistentRead: true,
                ...(projection ? { ProjectionExpression: projection.expression, ExpressionAttributeNames: projection.names } : {}),
              },
            },
          })),
        );
        for (const item of out.Responses?.[this.table] ?? []) found.set(id(item as Item), item as Item);
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
        if (pending.length > 0) {
          // Unprocessed keys mean throttling or a response over 16 MB: back off, then ask for the rest.
          if (round >= this.retry.attempts) throw new StorageUnavailableError(`${what}: DynamoDB left keys unprocessed ${round} times`);
          await this.backoff(round);
        }
      }
    }
    return keys.map((k) => found.get(id(k)));
  }

  /** A write whose condition may fail: false when it did. */
  async put(what: string, input: Omit<PutCommandInput, "TableName">): Promise<boolean> {
    return this.conditional(what, () => this.doc.send(new PutCommand({ TableName: this.table, ...input })));
  }

  async update(what: string, input: Omit<UpdateCommandInput, "TableName">): Promise<boolean> {
    return this.conditional(what, () => this.doc.send(new UpdateCommand({ TableName: this.table, ...input })));
  }

  async delete(what: string, input: Omit<DeleteCommandInput, "TableName">): Promise<boolean> {
    return this.conditional(what, () => this.doc.send(new DeleteCommand({ TableName: this.table, ...input })));
  }

  /** Items of a Query, page after page (a page stops at 1 MB), until `max` items or the end. */
  async query(what: string, input: Omit<QueryCommandInput, "TableName" | "Limit">, max = Infinity): Promise<Item[]> {
    const items: Item[] = [];
    let start = input.ExclusiveStartKey;
    do {
      const remaining = max - items.length;
      const out = await this.call(what, () =>
        this.doc.send(new QueryCommand({
          TableName: this.table,
          ...input,
          ...(start ? { ExclusiveStartKey: start } : {}),
          ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
        })),
      );
      items.push(...((out.Items ?? []) as Item[]));
      start = out.LastEvaluatedKey;
    } while (start !== undefined && items.length < max);
    return items;
  }

  /** One TransactWriteItems: all or nothing. Throws Contention when worth reading again, else StorageUnavailableError. */
  async transact(what: string, items: TransactItem[]): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      if (hasName(error, "TransactionCanceledException")) {
        const codes = ((error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? "None");
        if (codes.every((code) => RETRYABLE_REASONS.has(code))) {
          throw new Contention(codes.includes("ConditionalCheckFailed") ? "condition" : "conflict", { cause: error });
        }
      }
      if (hasName(error, "TransactionConflictException")) throw new Contention("conflict", { cause: error });
      throw unavailable(what, error);
    }
  }

  /**
   * Packs writes that may not fit one transaction (over 100 items or ~4 MB: a push with very many
   * tags): `atomic` goes whole into the first batch, topped up from `rest`; the rest of `rest` fills
   * further batches, each starting with `guard` (a ConditionCheck that the state read still holds).
   * Usually there is one batch; otherwise each is atomic but not the whole (docs/dynamodb.md). The
   * 4 MB counts the items touched, so a Delete weighs what it deletes: pass `restItemSize` for those.
   */
  pack(atomic: TransactItem[], rest: TransactItem[], guard: TransactItem, restItemSize?: number): TransactItem[][] {
    const batches: TransactItem[][] = [[...atomic]];
    let size = atomic.reduce((sum, item) => sum + estimateSize(item), 0);
    for (const item of rest) {
      const itemSize = restItemSize ?? estimateSize(item);
      if (batches.at(-1)!.length + 1 > MAX_TRANSACT_ITEMS || size + itemSize > MAX_TRANSACT_BYTES) {
        batches.push([guard]);
        size = estimateSize(guard);
      }
      batches.at(-1)!.push(item);
      size += itemSize;
    }
    return batches;
  }

  /** Runs a read-then-write attempt until it commits: read again after a failed condition, back off after a conflict. */
  async retrying<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof Contention)) throw error;
        if (n >= this.retry.attempts) {
          throw new StorageUnavailableError(`${what}: still contended after ${n} attempts (${error.reason})`, { cause: error.cause });
        }
        // A failed condition usually means a racer just committed: read again at once the first time.
        if (error.reason === "conflict" || n > 1) await this.backoff(n);
      }
    }
  }

  private async conditional(what: string, send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (error) {
      if (hasName(error, "ConditionalCheckFailedException")) return false;
      throw unavailable(what, error);
    }
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw unavailable(what, error);
    }
  }

  /** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
  private backoff(attempt: number): Promise<void> {
    const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt);
    return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
  }
}

/** A generous estimate of an item's size, to keep a transaction under its 4 MB limit. */
export function estimateSize(value: unknown): number {
  if (value === null || value === undefined || typeof value === "boolean") return 1;
  if (typeof value === "number") return 21;
  if (typeof value === "string") return Buffer.byteLength(value) + 1;
  if (value instanceof Uint8Array) return value.byteLength + 1;
  if (value instanceof Set || Array.isArray(value)) return [...value].reduce((sum: number, v) => sum + estimateSize(v), 3);
  return Object.entries(value as Record<string, unknown>).reduce((sum, [k, v]) => sum + k.length + estimateSize(v), 3);
}
