import type { AttributeValue } from "@aws-sdk/client-dynamodb";

// DynamoDB's billing rules, applied to the items a request sends or receives: what an on-demand table
// would be charged in read and write request units (RRU, WRU; the same numbers as RCU and WCU of a
// provisioned table). DynamoDB Local reports consumed capacity for single-item calls but not reliably
// for transactions, so request-counter.ts computes units itself and keeps Local's figures beside them.
//
// Rules (AWS docs, "Read/write capacity mode" and "Item sizes and formats"):
// - item size: the UTF-8 bytes of every attribute name plus its value (strings: UTF-8 bytes; numbers:
//   about one byte per two significant digits plus one; binary: its bytes; booleans and null: one byte;
//   lists and maps: 3 bytes plus one byte per element plus the elements);
// - a strongly consistent read: 1 unit per 4 KB of item, rounded up per item for GetItem and
//   BatchGetItem (an absent item still costs 1), over the sum of the items for a Query; eventually
//   consistent: half; transactional: double;
// - a write: 1 unit per 1 KB of the larger of the item before and after; transactional: double;
// - a GSI: one extra write when an item gains or loses an index entry, two when its index key changes,
//   one when it rewrites an entry in place.

const KB = 1024;

export function attributeValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S, "utf8");
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s, "utf8"), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + attributeValueSize(v), 0);
  if (value.M !== undefined) return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + 1 + Buffer.byteLength(k, "utf8") + attributeValueSize(v), 0);
  return 0;
}

function numberSize(n: string): number {
  const digits = n.replace(/^-/, "").replace(/\./, "").replace(/e.*$/i, "").replace(/^0+/, "").replace(/0+$/, "");
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

export type RawItem = Record<string, AttributeValue>;

export function itemSize(item: RawItem): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name, "utf8") + attributeValueSize(value), 0);
}

export const readUnits = (bytes: number, consistent: boolean): number => Math.max(1, Math.ceil(bytes / (4 * KB))) * (consistent ? 1 : 0.5);
export const writeUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / KB));

interface Known {
  size: number;
  /** The item's GSI key values, joined; undefined when it has no index entry. */
  indexKey: string | undefined;
}

export interface Units {
  read: number;
  write: number;
}

/**
 * Computes the request units of DynamoDB calls from their marshalled inputs and outputs. It remembers the
 * size of every item it sees (read or written), because a write is billed on the larger of the old and
 * new item, and a transaction's Update or Delete does not carry the item.
 */
export class UnitCalculator {
  private readonly known = new Map<string, Known>();

  constructor(
    private readonly keyAttributes: readonly string[] = ["PK", "SK"],
    private readonly indexAttributes: readonly string[] = ["idlePK", "idleSK"],
  ) {}

  /** Units of one call; `operation` without the "Command" suffix. */
  units(operation: string, input: Record<string, any>, output: Record<string, any>): Units {
    switch (operation) {
      case "GetItem": {
        const item = output.Item as RawItem | undefined;
        if (item) this.remember(input.TableName, item);
        return { read: readUnits(item ? itemSize(item) : 0, input.ConsistentRead === true), write: 0 };
      }
      case "BatchGetItem": {
        let read = 0;
        for (const [table, request] of Object.entries(input.RequestItems as Record<string, { Keys: RawItem[]; ConsistentRead?: boolean }>)) {
          const found = new Map<string, RawItem>();
          for (const item of (output.Responses?.[table] ?? []) as RawItem[]) {
            this.remember(table, item);
            found.set(this.id(table, item), item);
          }
          const unprocessed = new Set(((output.UnprocessedKeys?.[table]?.Keys ?? []) as RawItem[]).map((k) => this.id(table, k)));
          for (const key of request.Keys) {
            if (unprocessed.has(this.id(table, key))) continue;
            const item = found.get(this.id(table, key));
            read += readUnits(item ? itemSize(item) : 0, request.ConsistentRead === true);
          }
        }
        return { read, write: 0 };
      }
      case "Query":
      case "Scan": {
        const items = (output.Items ?? []) as RawItem[];
        if (input.IndexName === undefined) for (const item of items) this.remember(input.TableName, item);
        return { read: readUnits(items.reduce((sum, item) => sum + itemSize(item), 0), input.ConsistentRead === true), write: 0 };
      }
      case "TransactGetItems": {
        let read = 0;
        (input.TransactItems as { Get: { TableName: string; Key: RawItem } }[]).forEach((t, i) => {
          const item = output.Responses?.[i]?.Item as RawItem | undefined;
          if (item) this.remember(t.Get.TableName, item);
          read += 2 * readUnits(item ? itemSize(item) : 0, true);
        });
        return { read, write: 0 };
      }
      case "PutItem":
        // The item it replaced, when the caller asked for ALL_OLD (request-counter.ts does).
        if (output.Attributes) this.remember(input.TableName, output.Attributes as RawItem);
        return { read: 0, write: this.put(input.TableName, input.Item, 1) };
      case "UpdateItem":
        return { read: 0, write: this.update(input.TableName, input.Key, input, output.Attributes as RawItem | undefined, 1) };
      case "DeleteItem":
        if (output.Attributes) this.remember(input.TableName, output.Attributes as RawItem);
        return { read: 0, write: this.delete(input.TableName, input.Key, 1) };
      case "BatchWriteItem": {
        let write = 0;
        for (const [table, requests] of Object.entries(input.RequestItems as Record<string, { PutRequest?: { Item: RawItem }; DeleteRequest?: { Key: RawItem } }[]>)) {
          for (const r of requests) write += r.PutRequest ? this.put(table, r.PutRequest.Item, 1) : this.delete(table, r.DeleteRequest!.Key, 1);
        }
        return { read: 0, write };
      }
      case "TransactWriteItems": {
        let write = 0;
        for (const t of input.TransactItems as Record<string, any>[]) {
          if (t.Put) write += this.put(t.Put.TableName, t.Put.Item, 2);
          else if (t.Update) write += this.update(t.Update.TableName, t.Update.Key, t.Update, undefined, 2);
          else if (t.Delete) write += this.delete(t.Delete.TableName, t.Delete.Key, 2);
          else if (t.ConditionCheck) write += 2 * writeUnits(this.known.get(this.id(t.ConditionCheck.TableName, t.ConditionCheck.Key))?.size ?? 0);
        }
        return { read: 0, write };
      }
      default:
        return { read: 0, write: 0 };
    }
  }

  private id(table: string, item: RawItem): string {
    return [table, ...this.keyAttributes.map((k) => JSON.stringify(item[k] ?? null))].join("\u0000");
  }

  private indexKeyOf(item: RawItem): string | undefined {
    if (!this.indexAttributes.every((a) => item[a] !== undefined)) return undefined;
    return this.indexAttributes.map((a) => JSON.stringify(item[a])).join("\u0000");
  }

  private remember(table: string, item: RawItem): void {
    this.known.set(this.id(table, item), { size: itemSize(item), indexKey: this.indexKeyOf(item) });
  }

  private indexWrites(before: string | undefined, after: string | undefined): number {
    if (before === undefined && after === undefined) return 0;
    if (before === undefined || after === undefined) return 1;
    return before === after ? 1 : 2;
  }

  private put(table: string, item: RawItem, factor: number): number {
    const id = this.id(table, item);
    const old = this.known.get(id);
    const size = itemSize(item);
    const indexKey = this.indexKeyOf(item);
    this.known.set(id, { size, indexKey });
    return factor * writeUnits(Math.max(size, old?.size ?? 0)) + this.indexWrites(old?.indexKey, indexKey);
  }

  private update(table: string, key: RawItem, input: Record<string, any>, after: RawItem | undefined, factor: number): number {
    const id = this.id(table, key);
    const old = this.known.get(id);
    if (after) {
      const size = itemSize(after);
      const indexKey = this.indexKeyOf(after);
      this.known.set(id, { size, indexKey });
      return factor * writeUnits(Math.max(size, old?.size ?? 0)) + this.indexWrites(old?.indexKey, indexKey);
    }
    // A transaction's Update: the new size is not known; the old one is when the item was read before
    // (the store reads what it writes). Touching an index attribute is an index write.
    const names = Object.values((input.ExpressionAttributeNames ?? {}) as Record<string, string>);
    const touchesIndex = this.indexAttributes.some((a) => names.includes(a) || String(input.UpdateExpression ?? "").includes(a));
    return factor * writeUnits(old?.size ?? 0) + (touchesIndex ? (old?.indexKey ? 2 : 1) : 0);
  }

  private delete(table: string, key: RawItem, factor: number): number {
    const id = this.id(table, key);
    const old = this.known.get(id);
    this.known.delete(id);
    return factor * writeUnits(old?.size ?? 0) + (old?.indexKey ? 1 : 0);
  }
}
