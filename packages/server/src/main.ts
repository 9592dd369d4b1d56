import { pino } from "pino";
import { parseServerOptions, USAGE } from "./options.ts";
import { startServer } from "./server.ts";

// `npm start`: the registry on embedded storage, http://127.0.0.1:5000 by default.
async function main(): Promise<void> {
  let options;
  try {
    options = parseServerOptions(process.argv.slice(2), process.env);
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
  logger.info({ url: running.url, dataDir: options.dataDir }, `Stratus registry listening on ${running.url}`);

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

main().catch((err) => {
  process.stderr.write(`stratus: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
