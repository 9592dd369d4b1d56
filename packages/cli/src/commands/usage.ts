import { segment, type Command } from "../command.ts";
import { formatBytes, formatLimit, json, table } from "../format.ts";

// stratus usage <tenant>: what a tenant uses against its plan's limits.

export interface UsageView {
  tenant: string;
  plan: string;
  repositories: { used: number; limit: number | null };
  storedBytes: { used: number; limit: number | null };
  manifestsPerRepository: { repository: string; manifests: number; limit: number | null }[];
  /** Absent from registries older than upload bounds. */
  uploadSessions?: { used: number; limit: number | null };
  stagedBytes?: { used: number };
}

export const usageCommand: Command = {
  usage: "usage <tenant> [--json]",
  summary: "a tenant's repositories, stored bytes and manifests against its plan's limits",
  positionals: ["tenant"],
  async run({ io, args, json: asJson, client }) {
    const usage = await client().call<UsageView>("GET", `/admin/v1/tenants/${segment(args[0]!)}/usage`);
    io.out(asJson ? json(usage) : formatUsage(usage));
  },
};

export function formatUsage(u: UsageView): string {
  const share = (used: number, limit: number | null) => (limit === null || limit === 0 ? "" : `  (${((100 * used) / limit).toFixed(1)}%)`);
  const summary = table(
    ["", "used", "limit", ""],
    [
      ["repositories", String(u.repositories.used), formatLimit(u.repositories.limit), share(u.repositories.used, u.repositories.limit).trim()],
      ["stored", formatBytes(u.storedBytes.used), formatLimit(u.storedBytes.limit, formatBytes), share(u.storedBytes.used, u.storedBytes.limit).trim()],
      // Staged bytes of unfinished uploads count against the stored limit beside the stored bytes.
      ...(u.stagedBytes ? [["staged (uploads)", formatBytes(u.stagedBytes.used), "", ""]] : []),
      ...(u.uploadSessions
        ? [["upload sessions", String(u.uploadSessions.used), formatLimit(u.uploadSessions.limit), share(u.uploadSessions.used, u.uploadSessions.limit).trim()]]
        : []),
    ],
  );
  const perRepository = u.manifestsPerRepository.length
    ? table(
        ["repository", "manifests", "limit"],
        u.manifestsPerRepository.map((r) => [r.repository, String(r.manifests), formatLimit(r.limit)]),
      )
    : "No repositories yet.\n";
  return `Tenant ${u.tenant} (plan ${u.plan})\n\n${summary}\n${perRepository}`;
}
