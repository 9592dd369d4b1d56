import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Caller, Registry, RequestContext } from "@stratus/core";
import { lingerBeforeClose } from "./lingering-close.ts";
import { BodyMeter, discardRest, hasUnreadBody, requestBody } from "./request-body.ts";

// Translates node:http to the Web Request/Response that core speaks, streaming bodies both ways:
// a multi-GB layer flows socket → core → file without being buffered.

// A plain host[:port]; anything else in a Host header is not used to build URLs.
const HOST_HEADER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/** The header that carries a request's id: set on the Request core sees, and on the response. */
export const REQUEST_ID_HEADER = "x-request-id";

export interface WebRequestOptions {
  /** Counts the body bytes core reads. */
  meter?: BodyMeter;
  /** Replaces any X-Request-Id the client sent: ids are ours, so no request passes for another in the log. */
  requestId?: string;
  /** Runs when core first reads the body (registryListener sends 100 Continue then). */
  beforeBodyRead?: () => void;
}

/** The Web Request core handles. */
export function toWebRequest(req: IncomingMessage, { meter = new BodyMeter(), requestId, beforeBodyRead }: WebRequestOptions = {}): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  if (requestId !== undefined) headers.set(REQUEST_ID_HEADER, requestId);
  const method = req.method ?? "GET";
  const withBody = method !== "GET" && method !== "HEAD";
  // The origin the client addressed, so what core derives from request.url (the token realm in
  // challenges) points back at this server; a missing or odd Host gets a placeholder.
  const host = req.headers.host && HOST_HEADER.test(req.headers.host) ? req.headers.host : "registry.local";
  return new Request(`http://${host}${req.url}`, {
    method,
    headers,
    ...(withBody ? { body: requestBody(req, meter, beforeBodyRead), duplex: "half" } : {}),
  } as RequestInit);
}

const SMALL_BODY = 256 * 1024;

export async function writeWebResponse(response: Response, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  res.statusCode = response.status;
  response.headers.forEach((value, key) => res.setHeader(key, value));
  // Answered before the body was all here (a refusal of a large PATCH): close rather than take
  // gigabytes; registryListener lingers while it drops what is still arriving (lingering-close.ts).
  if (!req.complete) res.setHeader("connection", "close");
  if (!response.body || method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  // Small bodies (manifests, JSON, errors) in one write: a stream pipeline per 500-byte body costs
  // more CPU than the rest of the request.
  const length = Number(response.headers.get("content-length") ?? NaN);
  if (length <= SMALL_BODY) {
    res.end(Buffer.from(await response.arrayBuffer()));
    return;
  }
  await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), res);
}

/** One request as the log reports it, once it is over: answered, and its body read or dropped. */
export interface Exchange {
  requestId: string;
  /** The peer, as the connection started (a socket that closed since no longer tells). */
  remoteAddress: string | undefined;
  /** Body bytes received: those core read, and those dropped after its answer. */
  body: BodyMeter;
  /** Who made it, as core found out (absent before authentication or without credentials). */
  caller?: Caller;
  /** From the request head to the answer handed to the socket. */
  ms: number;
  /** Bytes written to the socket for this answer, head included. */
  bytesOut: number;
  /** The answer could not be written (the client went away, or the response stream failed). */
  error?: unknown;
}

/** A node:http request listener over the registry. */
export interface ListenerHooks {
  onDone: (req: IncomingMessage, res: ServerResponse, exchange: Exchange) => void;
  /** True once shutdown began: responses then close their connection, so the server can stop. */
  closing?: () => boolean;
}

export function registryListener(registry: Registry, { onDone, closing }: ListenerHooks) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    const written = req.socket.bytesWritten;
    const requestId = randomUUID();
    const body = new BodyMeter();
    const context: RequestContext = { remoteAddress: req.socket.remoteAddress, rawTarget: req.url };
    res.setHeader(REQUEST_ID_HEADER, requestId);
    void (async () => {
      let settled: Promise<unknown> = Promise.resolve();
      let error: unknown;
      try {
        if (!req.url?.startsWith("/")) {
          // Absolute-form or "*" targets: not a registry request.
          settled = settleBody(req, res, body);
          res.writeHead(400, { "docker-distribution-api-version": "registry/2.0", "content-length": "0" }).end();
        } else {
          const response = await registry.handle(toWebRequest(req, { meter: body, requestId, beforeBodyRead: () => continueIfExpected(req, res) }), context);
          if (closing?.()) res.setHeader("connection", "close");
          settled = settleBody(req, res, body);
          await writeWebResponse(response, req, res);
        }
      } catch (e) {
        // The client went away mid-response, or the response stream failed: nothing left to tell it.
        error = e;
        res.destroy();
      }
      const ms = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
      const bytesOut = req.socket.bytesWritten - written;
      await settled;
      onDone(req, res, { requestId, remoteAddress: context.remoteAddress, body, ms, bytesOut, caller: context.caller, error });
    })();
  };
}

/**
 * RFC 9110 10.1.1: a client sending "Expect: 100-continue" waits for 100 before its body. Sent only
 * once core reads the body (server.ts routes checkContinue here instead of node:http's immediate
 * 100), so a request refused on its head is answered before the client sends a byte of its body.
 */
function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  if (/100-continue/i.test(req.headers.expect ?? "") && !res.headersSent) res.writeContinue();
}

/**
 * Before the answer goes out: the rest of a body core did not read is read and dropped (counted),
 * so the client is not cut off while it writes. If more is still on its way, the answer announces
 * the close, and the connection closes only once the rest was dropped. Resolves when it was.
 */
function settleBody(req: IncomingMessage, res: ServerResponse, meter: BodyMeter): Promise<unknown> {
  if (!hasUnreadBody(req, meter)) return Promise.resolve();
  const draining = discardRest(req, meter);
  if (!req.complete) {
    res.setHeader("connection", "close");
    lingerBeforeClose(req.socket, draining);
  }
  return draining;
}
