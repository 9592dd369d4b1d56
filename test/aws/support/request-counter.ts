import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

// Counts the DynamoDB requests a piece of code makes, by operation, and the capacity units DynamoDB
// reports for them: the measure behind "one read per pull" and the cost table in docs/dynamodb.md.
// A middleware on the client's stack (shared with any DynamoDBDocumentClient made from it) counts
// each command once, before the SDK's retries, and asks DynamoDB for ReturnConsumedCapacity: TOTAL.

export interface RequestMeasure {
  /** Requests per operation ("GetItem", "TransactWriteItems", ...). */
  counts: Record<string, number>;
  total: number;
  /** Capacity units per operation as DynamoDB reported them (reads and writes together; none for failed calls). */
  capacity: Record<string, number>;
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

interface Consumed {
  CapacityUnits?: number;
}

export function countRequests(client: DynamoDBClient): RequestCounter {
  let counts: Record<string, number> = {};
  let capacity: Record<string, number> = {};
  const name = `stratus-request-counter-${Math.random().toString(36).slice(2)}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? "unknown").replace(/Command$/, "");
      counts[operation] = (counts[operation] ?? 0) + 1;
      const input = args.input as Record<string, unknown>;
      const withCapacity = DATA_PLANE.has(operation) && input.ReturnConsumedCapacity === undefined ? { ...args, input: { ...input, ReturnConsumedCapacity: "TOTAL" } } : args;
      const result = await next(withCapacity);
      const reported = (result.output as { ConsumedCapacity?: Consumed | Consumed[] }).ConsumedCapacity;
      const units = [reported ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (units > 0) capacity[operation] = (capacity[operation] ?? 0) + units;
      return result;
    },
    { step: "initialize", name, override: true },
  );
  const snapshot = (): RequestMeasure => ({
    counts: { ...counts },
    total: Object.values(counts).reduce((a, b) => a + b, 0),
    capacity: { ...capacity },
  });
  const reset = () => {
    counts = {};
    capacity = {};
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
    },
  };
}
