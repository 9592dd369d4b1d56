import { parseArgs } from "node:util";
import { z } from "zod";

// Server settings: command-line flags first, then STRATUS_* environment variables, then defaults.
export const serverOptionsSchema = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(5000),
  dataDir: z.string().min(1).default("./data"),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Serve peers other than loopback without authentication: trusted networks only. */
  allowRemote: z.preprocess((v) => v === true || v === "true" || v === "1", z.boolean()).default(false),
  uploadTtlSeconds: z.coerce.number().int().positive().default(24 * 3600),
  /** How often idle upload sessions are swept. */
  sweepIntervalSeconds: z.coerce.number().int().positive().default(300),
  /** How long shutdown waits for requests in flight before closing their connections. */
  shutdownGraceSeconds: z.coerce.number().int().nonnegative().default(10),
});
export type ServerOptions = z.infer<typeof serverOptionsSchema>;

const USAGE = `Usage: npm start -- [options]

  --host <addr>            address to listen on (STRATUS_HOST, default 127.0.0.1)
  --port <n>               port (STRATUS_PORT, default 5000)
  --data-dir <dir>         where blobs and metadata live (STRATUS_DATA_DIR, default ./data)
  --log-level <level>      fatal|error|warn|info|debug|trace|silent (STRATUS_LOG_LEVEL, default info)
  --allow-remote           serve non-loopback clients without auth (STRATUS_ALLOW_REMOTE=true)
  --upload-ttl <seconds>   idle upload sessions expire after this (STRATUS_UPLOAD_TTL_SECONDS, default 86400)
  -h, --help               this text
`;

export function parseServerOptions(argv: string[], env: NodeJS.ProcessEnv): ServerOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "data-dir": { type: "string" },
      "log-level": { type: "string" },
      "allow-remote": { type: "boolean" },
      "upload-ttl": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return "help";
  const result = serverOptionsSchema.safeParse({
    host: values.host ?? env.STRATUS_HOST,
    port: values.port ?? env.STRATUS_PORT,
    dataDir: values["data-dir"] ?? env.STRATUS_DATA_DIR,
    logLevel: values["log-level"] ?? env.STRATUS_LOG_LEVEL,
    allowRemote: values["allow-remote"] ?? env.STRATUS_ALLOW_REMOTE,
    uploadTtlSeconds: values["upload-ttl"] ?? env.STRATUS_UPLOAD_TTL_SECONDS,
  });
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n");
    throw new Error(`invalid options:\n${problems}\n\n${USAGE}`);
  }
  return result.data;
}

export { USAGE };
