import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { createRegistry, OpenOnLoopbackAuthorizer, UploadLinks, type Registry } from "@stratus/core";
import { pino, type Logger } from "pino";
import { registryListener } from "./node-adapter.ts";
import { multiTenantDeps } from "./multi-tenant.ts";
import { openStorage } from "./storage.ts";
import type { ServerOptions } from "./options.ts";

/** Upload links are re-issued on every upload response; an hour covers the longest gap between requests of one upload. */
const UPLOAD_LINK_SECONDS = 3600;

export interface RunningServer {
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
          ? logger.error({ err: error, method: request.method, path: new URL(request.url).pathname }, "request failed")
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

  // One line per request, with its own bytes on a keep-alive socket. The query string is left out:
  // later it may carry tokens.
  const started = new WeakMap<IncomingMessage, { at: bigint; socket: Socket; read: number; written: number }>();
  let closing: Promise<void> | undefined;
  const server = createServer(
    registryListener(registry, {
      closing: () => closing !== undefined,
      onDone: (req, res, error) => {
      const mark = started.get(req);
      if (!mark) return;
      logger.info(
        {
          method: req.method,
          path: (req.url ?? "").split("?")[0],
          status: res.statusCode,
          bytesIn: mark.socket.bytesRead - mark.read,
          bytesOut: mark.socket.bytesWritten - mark.written,
          ms: Number((process.hrtime.bigint() - mark.at) / 1000n) / 1000,
          ...(error ? { aborted: true } : {}),
        },
        "request",
      );
      },
    }),
  );
  server.prependListener("request", (req: IncomingMessage) => {
    started.set(req, { at: process.hrtime.bigint(), socket: req.socket, read: req.socket.bytesRead, written: req.socket.bytesWritten });
  });
  // Large layers over slow links take long: no overall request timeout, but headers must arrive promptly.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = options.host.includes(":") ? `[${options.host}]` : options.host;

  const sweep = async () => {
    try {
      const removed = await registry.expireUploads();
      if (removed) logger.info({ removed }, "expired idle upload sessions");
    } catch (err) {
      logger.error({ err }, "upload sweep failed");
    }
  };
  void sweep();
  const sweeper = setInterval(sweep, options.sweepIntervalSeconds * 1000);
  sweeper.unref();

  const close = () =>
    (closing ??= (async () => {
      clearInterval(sweeper);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), options.shutdownGraceSeconds * 1000);
      await closed;
      clearTimeout(grace);
      await storage.close();
    })());

  return { url: `http://${hostForUrl}:${port}`, port, registry, server, logger, close };
}
