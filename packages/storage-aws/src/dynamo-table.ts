import {
  CreateTableCommand, DescribeTableCommand, DescribeTimeToLiveCommand, UpdateTimeToLiveCommand,
  type CreateTableCommandInput, type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";

// The one table of the metadata store: the constants the CDK stack uses to declare it, and
// createTable() for tests and local setups. docs/dynamodb.md explains each piece.

/** Partition and sort key attribute names (both strings). */
export const PARTITION_KEY = "PK";
export const SORT_KEY = "SK";

/** Epoch seconds after which DynamoDB may delete an upload session (TTL deletion is late: reads check it too). */
export const TTL_ATTRIBUTE = "ttl";

/** GSI listing upload sessions by last update, for the sweep of idle uploads. Keys only: the sweep reads sessions back. */
export const IDLE_INDEX = {
  name: "idle",
  partitionKey: "idlePK",
  sortKey: "idleSK",
  projection: "KEYS_ONLY",
} as const;

/** On-demand billing: registry traffic is bursty (CI pushes), and there is nothing to size up front. */
export const BILLING_MODE = "PAY_PER_REQUEST";

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: BILLING_MODE,
    AttributeDefinitions: [
      { AttributeName: PARTITION_KEY, AttributeType: "S" },
      { AttributeName: SORT_KEY, AttributeType: "S" },
      { AttributeName: IDLE_INDEX.partitionKey, AttributeType: "S" },
      { AttributeName: IDLE_INDEX.sortKey, AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: PARTITION_KEY, KeyType: "HASH" },
      { AttributeName: SORT_KEY, KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: IDLE_INDEX.name,
        KeySchema: [
          { AttributeName: IDLE_INDEX.partitionKey, KeyType: "HASH" },
          { AttributeName: IDLE_INDEX.sortKey, KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: IDLE_INDEX.projection },
      },
    ],
  };
}

/** Creates the table, waits until it is active and turns TTL on. For tests and local setups; production uses the CDK stack. */
export async function createTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(new CreateTableCommand(tableDefinition(tableName)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === "ACTIVE");
    if (Table?.TableStatus === "ACTIVE" && indexesActive) break;
    if (Date.now() > deadline) throw new Error(`table ${tableName} is not active after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  if (ttl.TimeToLiveDescription?.TimeToLiveStatus !== "ENABLED") {
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: TTL_ATTRIBUTE } }));
  }
}
