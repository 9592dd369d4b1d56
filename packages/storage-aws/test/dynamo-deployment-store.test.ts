import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { deploymentStoreContract } from "../../../test/contracts/deployment-store.contract.ts";
import { uniqueName } from "../../../test/aws/support/backends.ts";
import { createTable } from "../src/dynamo-table.ts";
import { DynamoDeploymentStore } from "../src/dynamo-deployment-store.ts";
import { dynamoClient } from "./dynamo-fixture.ts";

/** A fresh table per test on the shared DynamoDB Local, the metadata store's own definition; each store its own client (its own "container"). */
deploymentStoreContract("DynamoDeploymentStore on DynamoDB Local", async () => {
  const table = uniqueName("stratus-deployment");
  const admin = dynamoClient();
  await createTable(admin, table);
  const clients = [dynamoClient()];
  const open = () => {
    const client = dynamoClient();
    clients.push(client);
    return new DynamoDeploymentStore({ client, tableName: table });
  };
  return {
    store: new DynamoDeploymentStore({ client: clients[0]!, tableName: table }),
    another: async () => open(),
    async cleanup() {
      await admin.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
      admin.destroy();
      for (const client of clients) client.destroy();
    },
  };
});
