import { randomBytes } from "node:crypto";
import { mkdir, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { str, type Command } from "../command.ts";
import { CliError, type CliIo } from "../io.ts";

// stratus login: saves a tenant's API key for docker (and podman, skopeo, crane, oras, helm, which
// read the same file), like `doctl registry login`: auths[host].auth = base64(tenant:key) in
// $DOCKER_CONFIG/config.json (else ~/.docker/config.json), everything else in the file kept.

export const loginCommand: Command = {
  usage: "login <registry> --tenant <tenant> (--key-stdin | --key <key>)",
  summary: "save a tenant's API key in the docker config, so docker push/pull to the registry use it",
  help: "Example: stratus key create acme --role push | stratus login registry.example.com --tenant acme --key-stdin\n",
  options: { tenant: { type: "string" }, key: { type: "string" }, "key-stdin": { type: "boolean" } },
  positionals: ["registry"],
  async run({ io, args, values }) {
    const host = registryHost(args[0]!);
    const tenant = str(values, "tenant");
    if (!tenant || /[:\s]/.test(tenant)) throw new CliError("--tenant <tenant> is required (the tenant's namespace, the first component of its repository names)");
    const fromStdin = values["key-stdin"] === true;
    const given = str(values, "key");
    if (fromStdin === (given !== undefined)) throw new CliError("give the key with --key-stdin (recommended) or --key, one of them");
    if (given !== undefined) io.err("WARNING! --key on the command line is visible in the shell history and the process list; prefer --key-stdin.\n");
    const key = (fromStdin ? await io.readStdin() : given!).trim();
    if (!key) throw new CliError("the key is empty");
    if (/[\s\p{Cc}]/u.test(key)) throw new CliError("the key contains spaces or control characters: give exactly the key that `stratus key create` printed");

    const file = dockerConfigPath(io);
    const warnings = await saveDockerAuth(file, host, tenant, key);
    for (const warning of warnings) io.err(`WARNING! ${warning}\n`);
    io.out(`Login Succeeded: credentials for ${host} (user ${tenant}) saved in ${file}\n`);
  },
};

/** The host[:port] docker keys credentials by, from a host, host/path or URL. */
export function registryHost(value: string): string {
  let host: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      host = new URL(value).host;
    } catch {
      throw new CliError(`registry "${value}" is not a URL or host`);
    }
  } else {
    host = value.split("/")[0]!;
  }
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(host)) throw new CliError(`registry "${value}": expected a host such as registry.example.com or localhost:5000`);
  return host.toLowerCase();
}

export function dockerConfigPath(io: Pick<CliIo, "env" | "homedir">): string {
  return join(io.env.DOCKER_CONFIG || join(io.homedir(), ".docker"), "config.json");
}

type DockerConfig = Record<string, unknown> & {
  auths?: Record<string, Record<string, unknown>>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
};

/**
 * Sets auths[host].auth in the config file, keeping every other field, written atomically (a
 * temporary file renamed over it) with mode 0600. Returns warnings for settings that make docker
 * look elsewhere for this host's credentials.
 */
export async function saveDockerAuth(file: string, host: string, user: string, secret: string): Promise<string[]> {
  // A symlinked config (dotfiles) is updated where it points, as docker does.
  const target = await realpath(file).catch(() => file);
  let config: DockerConfig = {};
  let text: string | undefined;
  try {
    text = await readFile(target, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (text !== undefined && text.trim() !== "") {
    try {
      config = JSON.parse(text) as DockerConfig;
    } catch {
      throw new CliError(`${file} is not valid JSON; fix or move it, then log in again (nothing was changed)`);
    }
    if (typeof config !== "object" || config === null || Array.isArray(config)) throw new CliError(`${file} is not a JSON object; nothing was changed`);
  }
  const auths = (config.auths ??= {});
  if (typeof auths !== "object" || Array.isArray(auths)) throw new CliError(`${file}: "auths" is not an object; nothing was changed`);
  const { identitytoken: _identityToken, ...entry } = auths[host] ?? {};
  auths[host] = { ...entry, auth: Buffer.from(`${user}:${secret}`).toString("base64") };

  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const temporary = `${target}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600, flag: "wx" });
    await rename(temporary, target);
  } catch (e) {
    await rm(temporary, { force: true });
    throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
  }

  const warnings: string[] = [];
  const helper = config.credHelpers?.[host];
  if (helper) warnings.push(`${file} sets credHelpers["${host}"] = "${helper}": docker asks that helper, not this entry, for ${host}`);
  else if (config.credsStore) warnings.push(`${file} sets credsStore "${config.credsStore}": docker asks that store, not this entry; remove credsStore or use docker login`);
  return warnings;
}
