import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";

// How long connections may sit idle, and how many there may be at once.
//
// node:http alone never closes a connection that sends nothing: headersTimeout only counts once a
// request has begun, and server.timeout (off by default) would also cut a request in flight whose
// client or storage pauses. So a connection with no request in flight, never spoken or kept alive
// after an answer, closes after the idle timeout; a request in flight is never cut by it, however
// slowly a layer streams. node:http's headersTimeout still bounds a request head sent too slowly.

export interface ConnectionSettings {
  /** A connection with no request in flight closes after this; above a load balancer's idle timeout. */
  idleTimeoutMs: number;
  /** Connections beyond this many are closed as they arrive, until some close. */
  maxConnections: number;
}

/** One warning per this interval at most while connections are being refused, with the count. */
const DROP_WARNING_INTERVAL_MS = 10_000;

export function limitConnections(server: Server, { idleTimeoutMs, maxConnections }: ConnectionSettings, logger: Logger): void {
  server.maxConnections = maxConnections;
  // After an answer node:http arms this (+1 s) itself; an ALB must give up on an idle connection
  // before we do, or it sends a request into our close and answers its client 502 (DESIGN.md).
  server.keepAliveTimeout = idleTimeoutMs;
  server.on("connection", (socket: Socket) => socket.setTimeout(idleTimeoutMs));
  // The head is in: the connection is no longer idle until its answer is out. (With "Expect:
  // 100-continue" node:http emits checkContinue instead of request.)
  const busy = (req: { socket: Socket }) => req.socket.setTimeout(0);
  server.on("request", busy);
  server.on("checkContinue", busy);

  let dropped = 0;
  let warnedAt = 0;
  server.on("drop", () => {
    dropped += 1;
    const now = Date.now();
    if (now - warnedAt < DROP_WARNING_INTERVAL_MS) return;
    logger.warn({ dropped, maxConnections }, "connections refused: --max-connections reached");
    warnedAt = now;
    dropped = 0;
  });
}
