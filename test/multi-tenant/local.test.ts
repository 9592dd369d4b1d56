import { startLocalMultiTenant } from "./deployment.ts";
import { multiTenantSuite } from "./suite.ts";

// The multi-tenant suite against the local deployment: packages/server --multi-tenant over SQLite and
// files in a fresh temporary directory.
multiTenantSuite("the local server (SQLite and files)", startLocalMultiTenant);
