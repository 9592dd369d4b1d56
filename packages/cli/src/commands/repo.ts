import { repositoryPath, segment, type Command, type CommandGroup } from "../command.ts";
import { formatBytes, formatTime, json, table } from "../format.ts";
import { CliError } from "../io.ts";

// stratus repo list|delete|visibility, and stratus manifests <repo> (like `az acr manifest list-metadata`).

interface RepositoryView {
  name: string;
  visibility: "public" | "private";
}
export interface ManifestView {
  digest: string;
  mediaType: string;
  artifactType?: string;
  size: number;
  tags: string[];
  createdAt: string;
}

export const repoCommands: CommandGroup = {
  list: {
    usage: "repo list <tenant> [--json]",
    summary: "list a tenant's repositories and their visibility",
    positionals: ["tenant"],
    async run({ io, args, json: asJson, client }) {
      const repositories = await client().listAll<RepositoryView>(`/admin/v1/tenants/${segment(args[0]!)}/repositories`, "repositories");
      io.out(asJson ? json(repositories) : table(["repository", "visibility"], repositories.map((r) => [r.name, r.visibility])));
    },
  },
  delete: {
    usage: "repo delete <name> --yes",
    summary: "delete a repository with every image in it, giving its room back to the tenant",
    options: { yes: { type: "boolean" } },
    positionals: ["name"],
    help:
      "Deletes every image in the repository: its manifests, tags and referrers, and the blobs no other\n" +
      "repository of the tenant holds. There is no undo. It asks nothing, so --yes is required.\n",
    async run({ io, args, values, client }) {
      const name = args[0]!;
      if (values.yes !== true) throw new CliError(`this deletes every image in ${name}, with no undo; add --yes to go ahead\nUsage: stratus repo delete <name> --yes`);
      await client().call("DELETE", `/admin/v1/repositories/${repositoryPath(name)}`);
      io.out(`Deleted repository ${name} and every image in it.\n`);
    },
  },
  visibility: {
    usage: "repo visibility <name> public|private",
    summary: "make a repository public (anyone may pull it) or private",
    positionals: ["name", "visibility"],
    async run({ io, args, json: asJson, client }) {
      const [name, visibility] = args as [string, string];
      if (visibility !== "public" && visibility !== "private") throw new CliError(`visibility must be public or private, not ${JSON.stringify(visibility)}`);
      const result = await client().call<RepositoryView>("PUT", `/admin/v1/repositories/${repositoryPath(name)}/visibility`, { visibility });
      io.out(asJson ? json(result) : `Repository ${result.name} is now ${result.visibility}.\n`);
    },
  },
};

export const manifestsCommand: Command = {
  usage: "manifests <repository> [--json]",
  summary: "list a repository's manifests: digest, tags, size, creation time, media type",
  positionals: ["repository"],
  async run({ io, args, json: asJson, client }) {
    const manifests = await client().listAll<ManifestView>(`/admin/v1/repositories/${repositoryPath(args[0]!)}/manifests`, "manifests");
    io.out(asJson ? json(manifests) : formatManifests(manifests));
  },
};

export function formatManifests(manifests: ManifestView[]): string {
  return table(
    ["digest", "tags", "size", "created", "artifact type"],
    manifests.map((m) => [m.digest, m.tags.join(",") || "-", formatBytes(m.size), formatTime(m.createdAt), m.artifactType ?? m.mediaType]),
  );
}
