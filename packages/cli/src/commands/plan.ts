import { segment, str, type CommandGroup } from "../command.ts";
import { formatBytes, formatLimit, json, parseCount, parseSize, table } from "../format.ts";
import { CliError } from "../io.ts";

// stratus plan list|set: plans are configuration (DOCR-like tiers), the operator's to set.

export interface PlanLimits {
  repositories: number | null;
  storedBytes: number | null;
  manifestsPerRepository: number | null;
  /** Open upload sessions; left out of a new plan, the registry's default (1000). */
  uploadSessions?: number | null;
}
export interface PlanView {
  name: string;
  limits: PlanLimits;
  builtIn: boolean;
}

export const planCommands: CommandGroup = {
  list: {
    usage: "plan list [--json]",
    summary: "list the plans and their limits",
    positionals: [],
    async run({ io, json: asJson, client }) {
      const { plans } = await client().call<{ plans: PlanView[] }>("GET", "/admin/v1/plans");
      if (asJson) return io.out(json(plans));
      io.out(
        table(
          ["plan", "repositories", "stored", "manifests/repo", "upload sessions", ""],
          plans.map((p) => [
            p.name,
            formatLimit(p.limits.repositories),
            formatLimit(p.limits.storedBytes, formatBytes),
            formatLimit(p.limits.manifestsPerRepository),
            p.limits.uploadSessions === undefined ? "" : formatLimit(p.limits.uploadSessions),
            p.builtIn ? "(built-in)" : "",
          ]),
        ),
      );
    },
  },
  set: {
    usage: "plan set <name> [--repositories N|unlimited] [--stored SIZE|unlimited] [--manifests N|unlimited] [--upload-sessions N|unlimited]",
    summary: "create or change a plan; flags left out keep the plan's current values",
    help:
      "SIZE: 500MB, 5GB, 100GB, 2GiB, ... (GB = 10^9 bytes). Bytes of unfinished uploads count against --stored.\n" +
      "A new plan needs the first three limits; --upload-sessions (uploads open at once) defaults to 1000.\n" +
      "Example: stratus plan set basic --repositories 5 --stored 5GB --manifests unlimited --upload-sessions 100\n",
    options: { repositories: { type: "string" }, stored: { type: "string" }, manifests: { type: "string" }, "upload-sessions": { type: "string" } },
    positionals: ["name"],
    async run({ io, args, values, json: asJson, client }) {
      const name = args[0]!;
      const given: Partial<PlanLimits> = {};
      const repositories = str(values, "repositories");
      const stored = str(values, "stored");
      const manifests = str(values, "manifests");
      const uploadSessions = str(values, "upload-sessions");
      if (repositories !== undefined) given.repositories = parseCount(repositories, "--repositories");
      if (stored !== undefined) given.storedBytes = parseSize(stored, "--stored");
      if (manifests !== undefined) given.manifestsPerRepository = parseCount(manifests, "--manifests");
      if (uploadSessions !== undefined) given.uploadSessions = parseCount(uploadSessions, "--upload-sessions");
      const complete = given.repositories !== undefined && given.storedBytes !== undefined && given.manifestsPerRepository !== undefined;
      let current: PlanView | undefined;
      // Every flag given: nothing to keep. Otherwise the plan's current values fill in (the PUT replaces the plan).
      if (!complete || given.uploadSessions === undefined) {
        const { plans } = await client().call<{ plans: PlanView[] }>("GET", "/admin/v1/plans");
        current = plans.find((p) => p.name === name);
        if (!current && !complete) throw new CliError(`plan ${name} does not exist yet: give --repositories, --stored and --manifests`);
      }
      const limits = { ...current?.limits, ...given } as PlanLimits;
      const plan = await client().call<PlanView>("PUT", `/admin/v1/plans/${segment(name)}`, { limits });
      io.out(
        asJson
          ? json(plan)
          : `Plan ${plan.name}: ${formatLimit(plan.limits.repositories)} repositories, ${formatLimit(plan.limits.storedBytes, formatBytes)} stored, ` +
            `${formatLimit(plan.limits.manifestsPerRepository)} manifests per repository` +
            `${plan.limits.uploadSessions === undefined ? "" : `, ${formatLimit(plan.limits.uploadSessions)} upload sessions open at once`}.\n`,
      );
    },
  },
};
