import { segment, str, type CommandGroup } from "../command.ts";
import { formatTime, json, table } from "../format.ts";

// stratus tenant create|list|show|set-plan|delete (operator; `show` also with the tenant's admin key).

export interface TenantView {
  id: string;
  plan: string;
  createdAt: string;
}

export const tenantCommands: CommandGroup = {
  create: {
    usage: "tenant create <id> [--plan <name>]",
    summary: "create a tenant: its id is the first component of its repository names (<id>/<repo>)",
    options: { plan: { type: "string" } },
    positionals: ["id"],
    async run({ io, args, values, json: asJson, client }) {
      const plan = str(values, "plan");
      const tenant = await client().call<TenantView>("POST", "/admin/v1/tenants", { id: args[0], ...(plan !== undefined ? { plan } : {}) });
      io.out(asJson ? json(tenant) : `Created tenant ${tenant.id} (plan ${tenant.plan}).\n`);
    },
  },
  list: {
    usage: "tenant list [--json]",
    summary: "list every tenant",
    positionals: [],
    async run({ io, json: asJson, client }) {
      const tenants = await client().listAll<TenantView>("/admin/v1/tenants", "tenants");
      io.out(asJson ? json(tenants) : table(["id", "plan", "created"], tenants.map((t) => [t.id, t.plan, formatTime(t.createdAt)])));
    },
  },
  show: {
    usage: "tenant show <id> [--json]",
    summary: "show a tenant",
    positionals: ["id"],
    async run({ io, args, json: asJson, client }) {
      const tenant = await client().call<TenantView>("GET", `/admin/v1/tenants/${segment(args[0]!)}`);
      io.out(asJson ? json(tenant) : `id:       ${tenant.id}\nplan:     ${tenant.plan}\ncreated:  ${formatTime(tenant.createdAt)}\n`);
    },
  },
  "set-plan": {
    usage: "tenant set-plan <id> <plan>",
    summary: "move a tenant to another plan (its limits apply from the next push)",
    positionals: ["id", "plan"],
    async run({ io, args, json: asJson, client }) {
      const tenant = await client().call<TenantView>("PATCH", `/admin/v1/tenants/${segment(args[0]!)}`, { plan: args[1] });
      io.out(asJson ? json(tenant) : `Tenant ${tenant.id} is now on plan ${tenant.plan}.\n`);
    },
  },
  delete: {
    usage: "tenant delete <id>",
    summary: "delete a tenant and its keys (refused while it has repositories)",
    positionals: ["id"],
    async run({ io, args, client }) {
      await client().call("DELETE", `/admin/v1/tenants/${segment(args[0]!)}`);
      io.out(`Deleted tenant ${args[0]}.\n`);
    },
  },
};
