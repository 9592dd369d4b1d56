import { parseArgs, type ParseArgsConfig } from "node:util";

export type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;
import { AdminClient, connectionFrom } from "./admin-client.ts";
import { CliError, type CliIo } from "./io.ts";

// One shape for every command: its usage line, its options (node:util parseArgs), its positional
// arguments and what it does. Groups (`stratus tenant …`) are tables of commands.

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  io: CliIo;
  args: string[];
  values: OptionValues;
  /** --json: machine-readable output. */
  json: boolean;
  /** The admin API at --registry / STRATUS_REGISTRY, with the credentials of the environment. */
  client(): AdminClient;
}

export interface Command {
  /** After "stratus ": "tenant create <id> [--plan <name>]". */
  usage: string;
  summary: string;
  options?: ParseArgsOptionsConfig;
  /** Names of the positional arguments, in order; a trailing "?" marks an optional one. */
  positionals: string[];
  /** Extra help lines under the usage. */
  help?: string;
  run(context: CommandContext): Promise<void>;
}

export type CommandGroup = Record<string, Command>;

const COMMON: ParseArgsOptionsConfig = {
  registry: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

export const COMMON_HELP = `Common options:
  --registry <url>   the registry (default STRATUS_REGISTRY, else http://127.0.0.1:5000)
  --json             print JSON instead of text
Credentials: STRATUS_ADMIN_TOKEN (operator) or STRATUS_API_KEY (a tenant admin key; user name STRATUS_TENANT).
`;

export function commandHelp(command: Command): string {
  return `Usage: stratus ${command.usage}\n\n${command.summary}\n${command.help ? `\n${command.help}` : ""}\n${COMMON_HELP}`;
}

export function groupHelp(name: string, group: CommandGroup): string {
  const lines = Object.values(group).map((c) => `  stratus ${c.usage}\n      ${c.summary}`);
  return `Usage: stratus ${name} <command> [options]\n\n${lines.join("\n")}\n\n${COMMON_HELP}`;
}

/** Parses argv for the command and runs it; --help prints its usage instead. */
export async function runCommand(command: Command, argv: string[], io: CliIo): Promise<void> {
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON, ...command.options }, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (e) {
    throw new CliError(`${e instanceof Error ? e.message : String(e)}\nUsage: stratus ${command.usage}`);
  }
  if (parsed.values.help) {
    io.out(commandHelp(command));
    return;
  }
  const required = command.positionals.filter((p) => !p.endsWith("?")).length;
  if (parsed.positionals.length < required || parsed.positionals.length > command.positionals.length) {
    const names = command.positionals.map((p) => (p.endsWith("?") ? `[${p.slice(0, -1)}]` : `<${p}>`)).join(" ");
    throw new CliError(`expected ${names || "no arguments"}, got ${parsed.positionals.length ? parsed.positionals.map((a) => JSON.stringify(a)).join(" ") : "none"}\nUsage: stratus ${command.usage}`);
  }
  let client: AdminClient | undefined;
  await command.run({
    io,
    args: parsed.positionals,
    values: parsed.values,
    json: parsed.values.json === true,
    client: () => (client ??= new AdminClient(connectionFrom(str(parsed.values, "registry"), io.env), io.fetch)),
  });
}

export function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function list(values: OptionValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** A path segment from a user's argument, percent-encoded so it cannot step into another route. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** A repository name in a path: its slashes stay, each component is encoded. */
export function repositoryPath(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}
