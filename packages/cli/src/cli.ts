import { COMMON_HELP, groupHelp, runCommand, type Command, type CommandGroup } from "./command.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { keyCommands } from "./commands/key.ts";
import { loginCommand } from "./commands/login.ts";
import { planCommands } from "./commands/plan.ts";
import { manifestsCommand, repoCommands } from "./commands/repo.ts";
import { tenantCommands } from "./commands/tenant.ts";
import { usageCommand } from "./commands/usage.ts";
import { CliError, type CliIo } from "./io.ts";

// The admin commands of `stratus`, over the admin API (docs/admin-api.md). `serve` and `version`
// stay in main.ts: they run the registry itself.

const GROUPS: Record<string, CommandGroup> = {
  tenant: tenantCommands,
  plan: planCommands,
  key: keyCommands,
  repo: repoCommands,
};
const SINGLE: Record<string, Command> = {
  usage: usageCommand,
  manifests: manifestsCommand,
  login: loginCommand,
  doctor: doctorCommand,
};

export const USAGE = `Usage: stratus <command> [options]

Commands:
  serve [options]                          run the registry on embedded storage (--help for options)
  version                                  print the version
  tenant create|list|show|set-plan|delete  manage tenants (operator)
  plan list|set                            manage plans: the limits tenants get
  key create|list|revoke                   manage a tenant's API keys
  usage <tenant>                           a tenant's usage against its plan
  repo list|delete|visibility              a tenant's repositories; delete one (--yes), make one public or private
  manifests <repository>                   a repository's manifests, tags, sizes and dates
  login <registry> --tenant T --key-stdin  save a key in the docker config
  doctor <registry-url>                    check a live deployment as clients use it, one verdict per check

\`stratus <command> --help\` for a command's options.

${COMMON_HELP}`;

export function isAdminCommand(name: string | undefined): boolean {
  return name !== undefined && (name in GROUPS || name in SINGLE);
}

/** Runs one admin command; returns the exit code (0, or 1 with the reason on stderr). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  try {
    const single = name !== undefined ? SINGLE[name] : undefined;
    if (single) {
      await runCommand(single, rest, io);
      return 0;
    }
    const group = name !== undefined ? GROUPS[name] : undefined;
    if (!group) throw new CliError(`unknown command ${JSON.stringify(name ?? "")}\n\n${USAGE}`);
    const [sub, ...args] = rest;
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
      io.out(groupHelp(name!, group));
      return sub === undefined ? 1 : 0;
    }
    const command = Object.hasOwn(group, sub) ? group[sub] : undefined;
    if (!command) throw new CliError(`unknown command "${name} ${sub}"\n\n${groupHelp(name!, group)}`);
    await runCommand(command, args, io);
    return 0;
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`stratus: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
