import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TokenKeySet, type TenantStore, type TokenAuthDeps } from "@stratus/core";
import type { Logger } from "pino";
import type { ServerOptions } from "./options.ts";

// Multi-tenant mode's secrets: the token signing secrets and the operator's bootstrap token. They
// come from configuration (a variable, or a file such as a mounted secret), never from code. On
// local storage, missing ones are generated once into the data directory (mode 0600), so
// `npm start -- --multi-tenant` works out of the box. On AWS storage the signing secrets must be
// given; the operator token may be left out (the upload service runs without one).

export async function multiTenantDeps(options: ServerOptions, tenants: TenantStore, logger: Logger): Promise<TokenAuthDeps> {
  const tokenSecrets = await secret(options, "token signing secrets", options.tokenSecrets, options.tokenSecretsFile, "token-secrets", logger);
  const operatorToken =
    options.storage === "local" || options.adminToken || options.adminTokenFile
      ? await secret(options, "operator token", options.adminToken, options.adminTokenFile, "admin-token", logger)
      : undefined;
  if (!operatorToken) logger.warn("no operator token configured: the admin API accepts tenant admin keys only");
  return { tenants, tokenKeys: await TokenKeySet.fromSecrets(tokenSecrets), ...(operatorToken ? { operatorToken } : {}) };
}

async function secret(options: ServerOptions, what: string, inline: string | undefined, file: string | undefined, generatedName: string, logger: Logger): Promise<string> {
  if (inline) return inline.trim();
  if (file) return (await readFile(file, "utf8")).trim();
  if (options.storage !== "local") throw new Error(`--multi-tenant on ${options.storage} storage needs the ${what} (see --help)`);
  const path = join(options.dataDir, generatedName);
  try {
    const value = (await readFile(path, "utf8")).trim();
    // Generated 0600; a copy made readable by others (restored from a backup, say) is tightened,
    // unless it is another user's file (then it is that user's to manage).
    await chmod(path, 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EPERM") throw e;
    });
    return value;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const value = randomBytes(32).toString("base64url");
  // "wx": never overwrite one another process created meanwhile.
  await writeFile(path, `${value}\n`, { mode: 0o600, flag: "wx" }).catch(async (e) => {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  });
  logger.info({ file: path }, `generated the ${what}`);
  return (await readFile(path, "utf8")).trim();
}
