import { deploymentStoreContract } from "../../../test/contracts/deployment-store.contract.ts";
import { deploymentFixture } from "./sqlite-fixtures.ts";

deploymentStoreContract("SqliteDeploymentStore", deploymentFixture);
