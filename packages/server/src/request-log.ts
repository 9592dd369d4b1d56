import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Exchange } from "./node-adapter.ts";

// One JSON line per request (docs/operations.md "Logs"). What it never holds: the query string
// (upload links carry tokens there), any header but the user agent (Authorization stays out), and
// any secret: the caller is named by tenant and key id only.

/** A user agent longer than this is cut: it is the client's own text, and lines stay small. */
const USER_AGENT_MAX = 256;

export function requestLogger(logger: Logger): (req: IncomingMessage, res: ServerResponse, exchange: Exchange) => void {
  return (req, res, { requestId, remoteAddress, body, ms, bytesOut, caller, error }) => {
    const userAgent = req.headers["user-agent"];
    logger.info(
      {
        requestId,
        method: req.method,
        path: (req.url ?? "").split("?")[0],
        status: res.statusCode,
        // Body bytes received, whoever read them; those dropped after a refusal also on their own.
        bytesIn: body.received,
        ...(body.discarded ? { bytesDiscarded: body.discarded } : {}),
        bytesOut,
        ms,
        remoteAddress,
        ...(userAgent ? { userAgent: userAgent.slice(0, USER_AGENT_MAX) } : {}),
        ...(caller?.tenant ? { tenant: caller.tenant } : {}),
        ...(caller?.keyId ? { keyId: caller.keyId } : {}),
        ...(error !== undefined ? { aborted: true } : {}),
      },
      "request",
    );
  };
}
