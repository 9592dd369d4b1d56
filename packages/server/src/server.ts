import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRegistry, OpenOnLoopbackAuthorizer, settleTenancyMode, UploadLinks, type Registry } from "@stratus/core";
import { pino, type Logger } from "pino";
import { limitConnections } from "./connections.ts";
import { registryListener, REQUEST_ID_HEADER } from "./node-adapter.ts";
import { requestLogger } from "./request-log.ts";
import { multiTenantDeps } from "./multi-tenant.ts";
import { openStorage } from "./storage.ts";
import type { ServerOptions } from "./options.ts";

/** Upload links are re-issued on every upload response; an hour covers the longest gap between requests of one upload. */
const UPLOAD_LINK_SECONDS = 3600;

export interface RunningServer {
  /** Where the storage is (and a local one's SQLite driver), for the start-up log line. */
  storage: Record<string, string>;
  url: string;
  port: number;
  registry: Registry;
  server: Server;
  logger: Logger;
  /** Stops accepting, lets requests in flight finish (up to the grace period), closes storage. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions, logger: Logger = pino({ level: options.logLevel })): Promise<RunningServer> {
  const storage = await openStorage(options);
  try {
    const { changedFrom } = await settleTenancyMode(storage, options.multiTenant ? "multi-tenant" : "open", {
      acceptChange: options.acceptModeChange,
      names: { storage: storage.description, multiTenantOption: "--multi-tenant", acceptOption: "--accept-mode-change (STRATUS_ACCEPT_MODE_CHANGE=true)" },
    });
    if (changedFrom) logger.warn({ from: changedFrom, to: options.multiTenant ? "multi-tenant" : "open" }, `${storage.description} now serves in another tenancy mode`);
  } catch (error) {
    await storage.close();
    throw error;
  }
  const multiTenant = options.multiTenant ? await multiTenantDeps(options, storage.tenants, logger) : undefined;
  const registry = createRegistry(
    {
      blobs: storage.blobs,
      metadata: storage.metadata,
      ...(multiTenant ? { multiTenant } : { authorizer: new OpenOnLoopbackAuthorizer({ allowRemote: options.allowRemote }) }),
      ...(options.uploadUrl && options.uploadTokenSecret
        ? {
            uploadLinks: new UploadLinks({
              baseUrl: options.uploadUrl,
              secret: new TextEncoder().encode(options.uploadTokenSecret),
              ttlSeconds: UPLOAD_LINK_SECONDS,
            }),
          }
        : {}),
      onUnexpectedError: (error, request) =>
        request
          ? logger.error({ err: error, requestId: request.headers.get(REQUEST_ID_HEADER), method: request.method, path: new URL(request.url).pathname }, "request failed")
          : logger.error({ err: error }, "background work failed"),
    },
    {
      uploadTtlSeconds: options.uploadTtlSeconds,
      ...storage.registryConfig,
      ...(multiTenant
        ? { tenancy: "namespace" as const, auth: { ...(options.authService ? { service: options.authService } : {}), ...(options.tokenRealm ? { realm: options.tokenRealm } : {}) } }
        : {}),
    },
  );

  let closing: Promise<void> | undefined;
  const listener = registryListener(registry, { closing: () => closing !== undefined, onDone: requestLogger(logger) });
  const server = createServer(listener);
  // "Expect: 100-continue": the listener sends 100 once core reads the body, not node:http up front.
  server.on("checkContinue", listener);
  // Large layers over slow links take long: no overall request timeout, but headers must arrive
  // promptly, and idle connections close (connections.ts).
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  limitConnections(server, { idleTimeoutMs: options.idleTimeoutSeconds * 1000, maxConnections: options.maxConnections }, logger);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = options.host.includes(":") ? `[${options.host}]` : options.host;

  // Each run removes every expired session (page after page), within one interval; runs never overlap.
  let sweeping: Promise<void> | undefined;
  const stopSweeping = new AbortController();
  const sweep = () => {
    sweeping ??= (async () => {
      try {
        const removed = await registry.expireUploads({ until: Date.now() + options.sweepIntervalSeconds * 1000, signal: stopSweeping.signal });
        if (removed) logger.info({ removed }, "expired idle upload sessions");
      } catch (err) {
        logger.error({ err }, "upload sweep failed");
      } finally {
        sweeping = undefined;
      }
    })();
    return sweeping;
  };
  void sweep();
  const sweeper = setInterval(sweep, options.sweepIntervalSeconds * 1000);
  sweeper.unref();

  const close = () =>
    (closing ??= (async () => {
      clearInterval(sweeper);
      stopSweeping.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), options.shutdownGraceSeconds * 1000);
      await closed;
      clearTimeout(grace);
      // A sweep in flight finishes its page before the storage closes under it.
      await sweeping;
      await storage.close();
    })());

  return { url: `http://${hostForUrl}:${port}`, port, registry, server, logger, storage: storage.facts, close };
}
