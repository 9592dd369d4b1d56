import { RegistryError } from "../errors.ts";
import type { RepositoryName } from "../oci/names.ts";
import type { QuotaExceeded, TenantId } from "../ports.ts";

// The refusal a push gets when the store answers QuotaExceeded (DESIGN.md "Tenancy": per-tenant
// limits, enforced by the stores inside the transaction that would pass them). 403 DENIED, as
// distribution answers a push it does not allow, with a message a person can act on: which limit,
// its maximum, the current figure, and what to do about it.

/** What was refused: a blob or a manifest of `size` bytes pushed to `repository` of `tenant`. */
export interface RefusedPush {
  tenant: TenantId;
  repository: RepositoryName;
  what: "blob" | "manifest";
  size: number;
}

export function quotaDenied(refusal: QuotaExceeded, push: RefusedPush): RegistryError {
  const { limit, max, usage } = refusal;
  const detail = { limit, max, usage, tenant: push.tenant, repository: push.repository, ...(limit === "storedBytes" ? { size: push.size } : {}) };
  switch (limit) {
    case "repositories":
      return denied(
        `tenant ${push.tenant} has ${usage} of its ${max} repositories, so ${push.repository} cannot be created: ` +
          "push to an existing repository, delete a repository or move to a larger plan",
        detail,
      );
    case "manifestsPerRepository":
      return denied(
        `repository ${push.repository} has ${usage} of its ${max} manifests: delete old manifests or move to a larger plan`,
        detail,
      );
    case "storedBytes":
      return denied(
        `this ${push.what} of ${formatBytes(push.size)} would take tenant ${push.tenant} to ${formatTotal(usage + push.size)} ` +
          `of its ${formatBytes(max)} (${formatBytes(usage, Math.floor)} stored): delete images or move to a larger plan`,
        detail,
      );
  }
}

function denied(message: string, detail: Record<string, unknown>): RegistryError {
  return new RegistryError("DENIED", message, detail, { status: 403 });
}

const UNITS = ["kB", "MB", "GB", "TB", "PB"] as const;

/** Decimal units, as storage plans are sold: "12.3 MB", "500 GB" (a round figure without decimals), "812 bytes". */
export function formatBytes(bytes: number, round: (n: number) => number = Math.round): string {
  if (bytes < 1000) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  let unit = 0;
  let scale = 1000;
  // Promote while the figure, rounded to one decimal, reaches 1000 of the unit (999,999 bytes is "1 MB", not "1000.0 kB").
  while (unit < UNITS.length - 1 && round((bytes / scale) * 10) / 10 >= 1000) {
    unit++;
    scale *= 1000;
  }
  const value = bytes / scale;
  return `${Number.isInteger(value) ? value : (round(value * 10) / 10).toFixed(1)} ${UNITS[unit]}`;
}

/** A total past the maximum, rounded up so that it never reads as the maximum itself ("500.1 GB of its 500 GB"). */
function formatTotal(total: number): string {
  return formatBytes(total, Math.ceil);
}
