import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { DeploymentStore, TenancyMode } from "@stratus/core";
import { DEFAULT_RETRY, DynamoIo } from "./dynamo-io.ts";
import type { Key } from "./dynamo-keys.ts";

// The DeploymentStore port in the metadata store's single table: one item, PK "DEPLOYMENT" SK "D",
// holding the tenancy mode the table was first served in (docs/dynamodb.md). "DEPLOYMENT" is a
// partition of its own, no prefix of any other ("R#", "T#", "CATALOG", "U#", "TENANTS", "PLANS",
// "K#", "PUBLIC", "TN#"). Read once per Lambda container or server start: one strongly consistent
// GetItem (1 RCU); written on the first start only, and on an accepted change of mode.

export interface DynamoDeploymentStoreOptions {
  client: DynamoDBClient;
  tableName: string;
}

const DEPLOYMENT_KEY: Key = { PK: "DEPLOYMENT", SK: "D" };

export class DynamoDeploymentStore implements DeploymentStore {
  private readonly io: DynamoIo;

  constructor(options: DynamoDeploymentStoreOptions) {
    const doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.io = new DynamoIo(doc, options.tableName, DEFAULT_RETRY);
  }

  async getTenancyMode(): Promise<TenancyMode | undefined> {
    const item = await this.io.get("read tenancy mode", DEPLOYMENT_KEY);
    return item?.tenancyMode as TenancyMode | undefined;
  }

  async setTenancyMode(mode: TenancyMode, expected: TenancyMode | undefined): Promise<boolean> {
    return this.io.put("record tenancy mode", {
      Item: { ...DEPLOYMENT_KEY, tenancyMode: mode },
      ...(expected === undefined
        ? { ConditionExpression: "attribute_not_exists(PK)" }
        : { ConditionExpression: "#mode = :expected", ExpressionAttributeNames: { "#mode": "tenancyMode" }, ExpressionAttributeValues: { ":expected": expected } }),
    });
  }
}
