import { TenancyModeError } from "@stratus/core";
import { pino } from "pino";
import { parseServerOptions, USAGE } from "./options.ts";
import { startServer } from "./server.ts";

/** Runs the registry on embedded storage until SIGINT/SIGTERM: `npm start`, `stratus serve`. */
export async function runServerCli(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  let options;
  try {
    options = parseServerOptions(argv, env);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
  if (options === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const logger = pino({ level: options.logLevel });
  // Everything the server writes is its user's only. The storage sets 0600/0700 on what it creates;
  // the umask also covers what a library (SQLite's own files) creates with defaults.
  process.umask(0o077);
  const running = await startServer(options, logger);
  logger.info({ url: running.url, storage: options.storage, ...running.storage }, `Stratus registry listening on ${running.url}`);

  const stop = (signal: string) => {
    logger.info({ signal }, "shutting down");
    running.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

export function exitOnFailure(err: unknown): never {
  // A refusal the operator must act on says why in one line; anything else is a bug: its stack helps.
  const expected = err instanceof TenancyModeError;
  process.stderr.write(`stratus: ${err instanceof Error ? (expected ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
  process.exit(1);
}
