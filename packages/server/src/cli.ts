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
  const running = await startServer(options, logger);
  const where = options.storage === "aws" ? { bucket: options.bucket, table: options.table, region: options.region } : { dataDir: options.dataDir };
  logger.info({ url: running.url, storage: options.storage, ...where }, `Stratus registry listening on ${running.url}`);

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
  process.stderr.write(`stratus: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
