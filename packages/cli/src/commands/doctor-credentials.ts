import { readFile } from "node:fs/promises";
import { str, type CommandContext } from "../command.ts";
import { CliError } from "../io.ts";
import { dockerConfigPath, registryHost } from "./login.ts";

// Which API key stratus doctor uses: --tenant with --key-stdin or --key, then STRATUS_TENANT and
// STRATUS_API_KEY, then the registry's entry in the docker config (as `stratus login` or `docker
// login` left it). The key goes only to the token realm, and is never printed.

export interface Credentials {
  user: string;
  key: string;
}

export async function findCredentials({ io, values }: CommandContext, base: URL): Promise<Credentials | undefined> {
  const fromStdin = values["key-stdin"] === true;
  const given = str(values, "key");
  if (fromStdin && given !== undefined) throw new CliError("give the key with --key-stdin or --key, not both");
  const tenant = str(values, "tenant") ?? io.env.STRATUS_TENANT;
  if (fromStdin || given !== undefined) {
    if (!tenant) throw new CliError("--tenant <tenant> is required with a key");
    const key = (fromStdin ? await io.readStdin() : given!).trim();
    if (!key) throw new CliError("the key is empty");
    return { user: tenant, key };
  }
  if (io.env.STRATUS_API_KEY) {
    if (!tenant) throw new CliError("STRATUS_API_KEY needs STRATUS_TENANT (or --tenant): the user name of the key");
    return { user: tenant, key: io.env.STRATUS_API_KEY };
  }
  // The docker config, as `stratus login` or `docker login` left it.
  const host = registryHost(base.href);
  let config: { auths?: Record<string, { auth?: string }> };
  try {
    config = JSON.parse(await readFile(dockerConfigPath(io), "utf8")) as typeof config;
  } catch {
    return undefined;
  }
  const auth = config.auths?.[host]?.auth ?? config.auths?.[`https://${host}`]?.auth;
  if (!auth) return undefined;
  const decoded = Buffer.from(auth, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  if (tenant && tenant !== user) throw new CliError(`the docker config's key for ${host} is tenant ${user}'s, not ${tenant}'s: give the key with --key-stdin`);
  return { user, key: decoded.slice(colon + 1) };
}
