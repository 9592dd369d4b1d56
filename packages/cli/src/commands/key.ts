import { list, segment, str, type CommandGroup } from "../command.ts";
import { formatTime, json, table } from "../format.ts";
import { CliError } from "../io.ts";

// stratus key create|list|revoke: a tenant's API keys (operator, or the tenant's admin key).

export interface KeyView {
  id: string;
  tenant: string;
  role: string;
  repositories: string[] | null;
  description: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const ROLES = ["pull", "push", "delete", "admin"];

export const keyCommands: CommandGroup = {
  create: {
    usage: "key create <tenant> --role pull|push|delete|admin [--repository <pattern>]... [--description <text>]",
    summary: "create an API key; the key is printed once, on stdout alone (the notice goes to stderr)",
    help: 'Patterns are repository names of the tenant with "*" (within a component) and "**" (any depth):\n  --repository acme/web/* --repository acme/tools/**\n',
    options: { role: { type: "string" }, repository: { type: "string", multiple: true }, description: { type: "string" } },
    positionals: ["tenant"],
    async run({ io, args, values, json: asJson, client }) {
      const role = str(values, "role");
      if (role === undefined || !ROLES.includes(role)) throw new CliError(`--role is required: one of ${ROLES.join(", ")}`);
      const repositories = list(values, "repository");
      const description = str(values, "description");
      const api = client();
      const created = await api.call<KeyView & { key: string; username: string }>("POST", `/admin/v1/tenants/${segment(args[0]!)}/keys`, {
        role,
        ...(repositories.length ? { repositories } : {}),
        ...(description !== undefined ? { description } : {}),
      });
      if (asJson) return io.out(json(created));
      io.out(`${created.key}\n`);
      const host = api.registry.host;
      io.err(
        `Created key ${created.id} (role ${created.role}, ${created.repositories ? `repositories ${created.repositories.join(" ")}` : "every repository"} of ${created.tenant}).\n` +
          "This is the only time the key is shown: store it now (a secret manager, a CI secret).\n" +
          `Log in with:  stratus login ${host} --tenant ${created.username} --key-stdin\n` +
          `         or:  docker login ${host} --username ${created.username} --password-stdin\n`,
      );
    },
  },
  list: {
    usage: "key list <tenant> [--json]",
    summary: "list a tenant's keys, revoked ones included (never their secrets)",
    positionals: ["tenant"],
    async run({ io, args, json: asJson, client }) {
      const { keys } = await client().call<{ keys: KeyView[] }>("GET", `/admin/v1/tenants/${segment(args[0]!)}/keys`);
      if (asJson) return io.out(json(keys));
      io.out(
        table(
          ["id", "role", "repositories", "created", "last used", "status", "description"],
          keys.map((k) => [
            k.id,
            k.role,
            k.repositories ? k.repositories.join(",") : "*",
            formatTime(k.createdAt),
            formatTime(k.lastUsedAt),
            k.revokedAt ? `revoked ${formatTime(k.revokedAt)}` : "active",
            k.description ?? "",
          ]),
        ),
      );
    },
  },
  revoke: {
    usage: "key revoke <tenant> <key-id>",
    summary: "revoke a key: it stops working at once (tokens issued for it expire within minutes)",
    positionals: ["tenant", "key-id"],
    async run({ io, args, client }) {
      await client().call("DELETE", `/admin/v1/tenants/${segment(args[0]!)}/keys/${segment(args[1]!)}`);
      io.out(`Revoked key ${args[1]} of ${args[0]}.\n`);
    },
  },
};
