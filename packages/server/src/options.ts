import { parseArgs } from "node:util";
import { z } from "zod";

// Server settings: command-line flags first, then environment variables, then defaults.
// One table lists every option once: its flag, its variable, its help line.

const flagBoolean = z.preprocess((v) => v === true || v === "true" || v === "1", z.boolean());

export const serverOptionsSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.coerce.number().int().min(0).max(65535).default(5000),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** Serve peers other than loopback without authentication: trusted networks only. */
    allowRemote: flagBoolean.default(false),
    uploadTtlSeconds: z.coerce.number().int().positive().default(24 * 3600),
    /**
     * How often sessions idle past the upload TTL are swept (each run removes all of them): an
     * expired session's staging file or S3 parts and its place in the tenant's limits last this long at most.
     */
    sweepIntervalSeconds: z.coerce.number().int().positive().default(60),
    /**
     * A connection with no request in flight (never spoken, or kept alive after an answer) closes
     * after this; keep it above the idle timeout of a load balancer in front (ALB: 60 s by default).
     */
    idleTimeoutSeconds: z.coerce.number().positive().max(3600).default(65),
    /** Connections open at once; more are closed as they arrive (each costs a file descriptor and buffers). */
    maxConnections: z.coerce.number().int().positive().default(1024),
    /** How long shutdown waits for requests in flight before closing their connections. */
    shutdownGraceSeconds: z.coerce.number().int().nonnegative().default(10),
    storage: z.enum(["local", "aws"]).default("local"),
    // storage local
    dataDir: z.string().min(1).default("./data"),
    // storage aws
    bucket: z.string().min(3).max(63).optional(),
    table: z.string().min(3).max(255).optional(),
    region: z.string().min(1).default("us-east-1"),
    s3Endpoint: z.url().optional(),
    dynamodbEndpoint: z.url().optional(),
    presignSeconds: z.coerce.number().int().min(1).max(7 * 24 * 3600).default(900),
    // upload service: sessions answered on another host with signed links
    uploadUrl: z.url().optional(),
    uploadTokenSecret: z.string().min(32, "must be at least 32 characters").optional(),
    // multi-tenant mode: tenants, token auth, quotas, the admin API
    multiTenant: flagBoolean.default(false),
    /** Serve storage created in the other tenancy mode anyway (core services/tenancy-mode.ts). */
    acceptModeChange: flagBoolean.default(false),
    /** Secrets the token signing keys derive from, first signs (whitespace-separated); local storage generates one. */
    tokenSecrets: z.string().min(32).optional(),
    tokenSecretsFile: z.string().min(1).optional(),
    /** The operator's bootstrap credential for the admin API; local storage generates one. */
    adminToken: z.string().min(32, "must be at least 32 characters").optional(),
    adminTokenFile: z.string().min(1).optional(),
    authService: z.string().min(1).max(255).optional(),
    tokenRealm: z.url().optional(),
  })
  .refine((o) => o.storage !== "aws" || (o.bucket && o.table), {
    message: "--storage aws needs --bucket and --table (or STRATUS_S3_BUCKET and STRATUS_DYNAMODB_TABLE)",
    path: ["storage"],
  })
  .refine((o) => !o.uploadUrl || o.uploadTokenSecret, {
    message: "--upload-url needs STRATUS_UPLOAD_TOKEN_SECRET (the key shared with the upload service)",
    path: ["uploadUrl"],
  });
export type ServerOptions = z.infer<typeof serverOptionsSchema>;
export type ServerOptionsInput = z.input<typeof serverOptionsSchema>;

type Key = keyof ServerOptionsInput;
const OPTIONS: { key: Key; flag: string; env: string; boolean?: boolean; help: string }[] = [
  { key: "host", flag: "host", env: "STRATUS_HOST", help: "<addr>  address to listen on (default 127.0.0.1)" },
  { key: "port", flag: "port", env: "STRATUS_PORT", help: "<n>  port (default 5000)" },
  { key: "logLevel", flag: "log-level", env: "STRATUS_LOG_LEVEL", help: "<level>  fatal|error|warn|info|debug|trace|silent (default info)" },
  { key: "allowRemote", flag: "allow-remote", env: "STRATUS_ALLOW_REMOTE", boolean: true, help: "serve non-loopback clients without auth" },
  { key: "idleTimeoutSeconds", flag: "idle-timeout", env: "STRATUS_IDLE_TIMEOUT_SECONDS", help: "<seconds>  close connections idle this long; above a load balancer's (default 65)" },
  { key: "shutdownGraceSeconds", flag: "shutdown-grace", env: "STRATUS_SHUTDOWN_GRACE_SECONDS", help: "<seconds>  on SIGTERM, requests in flight get this long (default 10)" },
  { key: "maxConnections", flag: "max-connections", env: "STRATUS_MAX_CONNECTIONS", help: "<n>  connections open at once; more are refused (default 1024)" },
  { key: "uploadTtlSeconds", flag: "upload-ttl", env: "STRATUS_UPLOAD_TTL_SECONDS", help: "<seconds>  idle upload sessions expire (default 86400)" },
  { key: "sweepIntervalSeconds", flag: "sweep-interval", env: "STRATUS_SWEEP_INTERVAL_SECONDS", help: "<seconds>  remove expired upload sessions this often (default 60)" },
  { key: "storage", flag: "storage", env: "STRATUS_STORAGE", help: "local|aws  where blobs and metadata live (default local)" },
  { key: "dataDir", flag: "data-dir", env: "STRATUS_DATA_DIR", help: "<dir>  local storage directory (default ./data)" },
  { key: "bucket", flag: "bucket", env: "STRATUS_S3_BUCKET", help: "<name>  aws: S3 bucket for blobs" },
  { key: "table", flag: "table", env: "STRATUS_DYNAMODB_TABLE", help: "<name>  aws: DynamoDB table for metadata" },
  { key: "region", flag: "region", env: "AWS_REGION", help: "<region>  aws: region (default us-east-1)" },
  { key: "s3Endpoint", flag: "s3-endpoint", env: "STRATUS_S3_ENDPOINT", help: "<url>  aws: S3-compatible endpoint (radosgw, MinIO)" },
  { key: "dynamodbEndpoint", flag: "dynamodb-endpoint", env: "STRATUS_DYNAMODB_ENDPOINT", help: "<url>  aws: DynamoDB endpoint (DynamoDB Local)" },
  { key: "uploadUrl", flag: "upload-url", env: "STRATUS_UPLOAD_URL", help: "<url>  upload sessions live on this host (the upload service)" },
  { key: "uploadTokenSecret", flag: "upload-token-secret", env: "STRATUS_UPLOAD_TOKEN_SECRET", help: "<key>  signs upload links; prefer the variable" },
  { key: "multiTenant", flag: "multi-tenant", env: "STRATUS_MULTI_TENANT", boolean: true, help: "tenants, token auth, quotas and the admin API" },
  { key: "acceptModeChange", flag: "accept-mode-change", env: "STRATUS_ACCEPT_MODE_CHANGE", boolean: true, help: "serve data created in the other mode (open / multi-tenant)" },
  { key: "tokenSecretsFile", flag: "token-secrets-file", env: "STRATUS_TOKEN_SECRETS_FILE", help: "<file>  secrets for token signing keys, first signs" },
  { key: "tokenSecrets", flag: "token-secrets", env: "STRATUS_TOKEN_SECRETS", help: "<s>  the same inline; prefer the variable or the file" },
  { key: "adminTokenFile", flag: "admin-token-file", env: "STRATUS_ADMIN_TOKEN_FILE", help: "<file>  operator token for the admin API" },
  { key: "adminToken", flag: "admin-token", env: "STRATUS_ADMIN_TOKEN", help: "<s>  the same inline; prefer the variable or the file" },
  { key: "authService", flag: "auth-service", env: "STRATUS_AUTH_SERVICE", help: "<name>  service name in tokens (default stratus)" },
  { key: "tokenRealm", flag: "token-realm", env: "STRATUS_TOKEN_REALM", help: "<url>  public URL of /token (default: from the request)" },
  { key: "presignSeconds", flag: "presign-seconds", env: "STRATUS_PRESIGN_SECONDS", help: "<n>  aws: lifetime of blob download URLs (default 900)" },
];

export const USAGE = `Usage: npm start -- [options]    (each option also reads the environment variable shown)

${OPTIONS.map((o) => {
  const [arg, text] = o.help.includes("  ") ? o.help.split(/  (.*)/s) : ["", o.help];
  return `  --${`${o.flag} ${arg}`.padEnd(28)} ${text}  [${o.env}]`;
}).join("\n")}
  -h, --help                     this text

AWS credentials come from the usual chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role).
`;

export function parseServerOptions(argv: string[], env: NodeJS.ProcessEnv): ServerOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(OPTIONS.map((o) => [o.flag, { type: o.boolean ? "boolean" : "string" } as const])),
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return "help";
  const given = values as Record<string, string | boolean | undefined>;
  const input = Object.fromEntries(OPTIONS.map((o) => [o.key, given[o.flag] ?? env[o.env]]).filter(([, v]) => v !== undefined && v !== ""));
  const result = serverOptionsSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n");
    throw new Error(`invalid options:\n${problems}\n\n${USAGE}`);
  }
  return result.data;
}
