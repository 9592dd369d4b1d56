import { RegistryError } from "../errors.ts";
import type { RepositoryName } from "../oci/names.ts";
import type { QuotaExceeded, TenantId } from "../ports.ts";

// The refusal a push gets when the store answers QuotaExceeded (DESIGN.md "Tenancy": per-tenant
// limits, enforced by the stores inside the transaction that would pass them). 403 DENIED, as
// distribution answers a push it does not allow, with a message a person can act on: which limit,
// its maximum, the current figure, and what to do about it.

/**
 * What was refused: a blob or a manifest of `size` bytes pushed to `repository` of `tenant`, or a
 * chunk of an upload (`size` the bytes it would have added; with `atLeast`, a body of unknown length
 * stopped as it passed the room left, `size` what had arrived by then).
 */
export interface RefusedPush {
  tenant: TenantId;
  repository: RepositoryName;
  what: "blob" | "manifest" | "chunk";
  size: number;
  atLeast?: boolean;
  /** How long an idle upload session lives, for the uploadSessions refusal. */
  uploadTtlMs?: number;
}

export function quotaDenied(refusal: QuotaExceeded, push: RefusedPush): RegistryError {
  const { limit, max, usage } = refusal;
  const staged = refusal.stagedBytes ?? 0;
  const detail = {
    limit, max, usage, tenant: push.tenant, repository: push.repository,
    ...(limit === "storedBytes" ? { size: push.size, ...(staged > 0 ? { stagedBytes: staged } : {}) } : {}),
  };
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
    case "uploadSessions":
      return denied(
        `tenant ${push.tenant} has ${usage} of its ${max} upload sessions open, so no other upload can start: finish or cancel ` +
          `uploads in progress${push.uploadTtlMs ? ` (idle ones expire after ${formatDuration(push.uploadTtlMs)})` : ""} or move to a larger plan`,
        detail,
      );
    case "storedBytes": {
      // Staged bytes count against the plan (docs/operations.md "Upload bounds"): when there are
      // some, say so, or the figures do not add up.
      const held = staged > 0
        ? `${formatBytes(usage, Math.floor)} stored, ${formatBytes(staged, Math.floor)} staged by unfinished uploads, which count too`
        : `${formatBytes(usage, Math.floor)} stored`;
      const change =
        push.what !== "chunk" ? `this ${push.what} of ${formatBytes(push.size)} would take tenant ${push.tenant} to ${formatTotal(usage + staged + push.size)} of`
        : push.atLeast ? `this request's body, longer than the ${formatBytes(Math.max(0, max - usage - staged))} left, would take tenant ${push.tenant} past`
        : `${formatBytes(push.size)} more would take tenant ${push.tenant} to ${formatTotal(usage + staged + push.size)} of`;
      return denied(
        `${change} its ${formatBytes(max)} (${held})${push.what === "chunk" ? "; the upload was discarded" : ""}: ` +
          `delete images${staged > 0 ? ", finish or cancel other uploads," : ""} or move to a larger plan`,
        detail,
      );
    }
  }
}

/** "24 h", "90 min", "45 s": the largest unit that divides the figure, as an operator sets it. */
function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
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
