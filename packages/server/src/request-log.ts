import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { requestLogFields } from "@stratus/core";
import type { Exchange } from "./node-adapter.ts";

// One JSON line per request, with the fields core's requestLogFields names (docs/operations.md "Logs").

export function requestLogger(logger: Logger): (req: IncomingMessage, res: ServerResponse, exchange: Exchange) => void {
  return (req, res, { requestId, remoteAddress, body, ms, bytesOut, caller, error }) => {
    const userAgent = req.headers["user-agent"];
    logger.info(
      requestLogFields({
        requestId,
        method: req.method ?? "GET",
        path: req.url ?? "",
        status: res.statusCode,
        bytesIn: body.received,
        bytesDiscarded: body.discarded,
        bytesOut,
        ms,
        ...(remoteAddress ? { remoteAddress } : {}),
        ...(userAgent ? { userAgent } : {}),
        ...(caller ? { caller } : {}),
        aborted: error !== undefined,
      }),
      "request",
    );
  };
}
