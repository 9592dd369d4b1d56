import type { RegistryConfig } from "../config.ts";
import { namespaceOf, type RepositoryName } from "../oci/names.ts";
import type { TenantId } from "../ports.ts";

export const SINGLE_TENANT = "default" as TenantId;

/** Which tenant owns a repository: one tenant for all in single mode, the first path component otherwise. */
export function tenantResolver(config: Pick<RegistryConfig, "tenancy">): (name: RepositoryName) => TenantId {
  return config.tenancy === "single" ? () => SINGLE_TENANT : (name) => namespaceOf(name) as TenantId;
}
