import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { UnitCalculator, type RawItem } from "./dynamo-units.ts";

// Counts the DynamoDB requests a piece of code makes, by operation, and the capacity units DynamoDB
// reports for them: the measure behind "one read per pull" and the cost table in docs/dynamodb.md.
// A middleware on the client's stack (shared with any DynamoDBDocumentClient made from it) counts
// each command once, before the SDK's retries, and asks DynamoDB for ReturnConsumedCapacity: TOTAL.
// It also computes the read and write request units DynamoDB bills for each call from the items
// sent and received (dynamo-units.ts): DynamoDB Local's reported capacity undercounts transactions.
// A DynamoDBDocumentClient marshals after the initialize step and unmarshals before it, so a second
// middleware (build step) picks up the marshalled input, and document-form outputs are converted back.
// To know the size of the items a write replaces, it asks single-item writes that did not ask for
// anything themselves for ReturnValues (ALL_OLD, or ALL_NEW for UpdateItem) and hides the answer
// from the caller, which sees the output it asked for.

export interface RequestMeasure {
  /** Requests per operation ("GetItem", "TransactWriteItems", ...). */
  counts: Record<string, number>;
  total: number;
  /** Capacity units per operation as DynamoDB reported them (reads and writes together; none for failed calls). */
  capacity: Record<string, number>;
  /** Read request units per operation, computed by DynamoDB's billing rules from the items read. */
  readUnits: Record<string, number>;
  /** Write request units per operation (GSI writes included), computed from the items written. */
  writeUnits: Record<string, number>;
}

export interface RequestCounter {
  snapshot(): RequestMeasure;
  reset(): void;
  /** Runs `work` from zero and returns what it cost. */
  measure<T>(work: () => Promise<T>): Promise<RequestMeasure & { result: T }>;
  detach(): void;
}

// Operations that accept ReturnConsumedCapacity.
const DATA_PLANE = new Set(["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems"]);
const RETURN_VALUES: Record<string, string> = { PutItem: "ALL_OLD", DeleteItem: "ALL_OLD", UpdateItem: "ALL_NEW" };

interface Consumed {
  CapacityUnits?: number;
}

export function countRequests(client: DynamoDBClient): RequestCounter {
  let counts: Record<string, number> = {};
  let capacity: Record<string, number> = {};
  let readUnits: Record<string, number> = {};
  let writeUnits: Record<string, number> = {};
  const calculator = new UnitCalculator();
  const add = (into: Record<string, number>, operation: string, n: number) => {
    if (n > 0) into[operation] = (into[operation] ?? 0) + n;
  };
  const name = `stratus-request-counter-${Math.random().toString(36).slice(2)}`;
  const marshalled = Symbol(name);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      (context as Record<symbol, unknown>)[marshalled] = args.input;
      return next(args);
    },
    { step: "build", name: `${name}-marshalled`, override: true },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? "unknown").replace(/Command$/, "");
      counts[operation] = (counts[operation] ?? 0) + 1;
      const input = args.input as Record<string, unknown>;
      const extra: Record<string, unknown> = {};
      if (DATA_PLANE.has(operation) && input.ReturnConsumedCapacity === undefined) extra.ReturnConsumedCapacity = "TOTAL";
      const peek = RETURN_VALUES[operation] !== undefined && input.ReturnValues === undefined;
      if (peek) extra.ReturnValues = RETURN_VALUES[operation];
      const sent = { ...input, ...extra };
      const result = await next(Object.keys(extra).length > 0 ? { ...args, input: sent } : args);
      const output = result.output as unknown as Record<string, unknown> & { ConsumedCapacity?: Consumed | Consumed[] };
      const reported = output.ConsumedCapacity;
      const units = [reported ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      add(capacity, operation, units);
      const wire = ((context as Record<symbol, unknown>)[marshalled] ?? sent) as Record<string, unknown>;
      const documentForm = (context as { __aws_sdk_context?: { features?: Record<string, unknown> } }).__aws_sdk_context?.features?.DDB_MAPPER !== undefined;
      const computed = calculator.units(operation, wire, documentForm ? marshallOutput(output) : output);
      add(readUnits, operation, computed.read);
      add(writeUnits, operation, computed.write);
      if (peek) delete output.Attributes;
      return result;
    },
    { step: "initialize", name, override: true },
  );
  const snapshot = (): RequestMeasure => ({
    counts: { ...counts },
    total: Object.values(counts).reduce((a, b) => a + b, 0),
    capacity: { ...capacity },
    readUnits: { ...readUnits },
    writeUnits: { ...writeUnits },
  });
  const reset = () => {
    counts = {};
    capacity = {};
    readUnits = {};
    writeUnits = {};
  };
  return {
    snapshot,
    reset,
    async measure(work) {
      reset();
      const result = await work();
      return { ...snapshot(), result };
    },
    detach() {
      client.middlewareStack.remove(name);
      client.middlewareStack.remove(`${name}-marshalled`);
    },
  };
}

/** The item-bearing fields of a document client's output, back in AttributeValue form (for sizing only). */
function marshallOutput(output: Record<string, any>): Record<string, any> {
  const items = (list: unknown) => (Array.isArray(list) ? list.map((i) => toItem(i)) : list);
  const out: Record<string, any> = { ...output };
  if (output.Item) out.Item = toItem(output.Item);
  if (output.Attributes) out.Attributes = toItem(output.Attributes);
  if (output.Items) out.Items = items(output.Items);
  if (Array.isArray(output.Responses)) out.Responses = output.Responses.map((r: { Item?: unknown }) => (r?.Item ? { ...r, Item: toItem(r.Item) } : r));
  else if (output.Responses) out.Responses = Object.fromEntries(Object.entries(output.Responses).map(([t, list]) => [t, items(list)]));
  return out;
}

function toItem(value: unknown): RawItem {
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).map(([k, v]) => [k, toAttributeValue(v)]));
}

function toAttributeValue(v: unknown): AttributeValue {
  if (typeof v === "string") return { S: v };
  if (typeof v === "number" || typeof v === "bigint") return { N: String(v) };
  if (typeof v === "boolean") return { BOOL: v };
  if (v === null) return { NULL: true };
  if (v instanceof Uint8Array) return { B: v };
  if (v instanceof Set) {
    const values = [...v];
    if (values.every((x) => typeof x === "string")) return { SS: values as string[] };
    if (values.every((x) => x instanceof Uint8Array)) return { BS: values as Uint8Array[] };
    return { NS: values.map((x) => String(x)) };
  }
  if (Array.isArray(v)) return { L: v.map(toAttributeValue) };
  return { M: toItem(v) };
}
