// The admin API: tenants, plans, API keys, usage and repositories (docs/admin-api.md).
export { createAdminApi, type AdminApi, type AdminApiDeps } from "./admin-api.ts";
export { ADMIN_ONLY_ERRORS, AdminError, type AdminErrorCode } from "./admin-errors.ts";
export { AdminService, type AdminAccess } from "./admin-service.ts";
export { RESERVED_TENANT_IDS, tenantIdProblem, isTenantId } from "./admin-schemas.ts";
