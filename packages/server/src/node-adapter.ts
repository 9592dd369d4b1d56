import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Registry } from "@stratus/core";

// Translates node:http to the Web Request/Response that core speaks, streaming bodies both ways:
// a multi-GB layer flows socket → core → file without being buffered.

// A plain host[:port]; anything else in a Host header is not used to build URLs.
const HOST_HEADER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

export function toWebRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const method = req.method ?? "GET";
  const withBody = method !== "GET" && method !== "HEAD";
  // The origin the client addressed, so what core derives from request.url (the token realm in
  // challenges) points back at this server; a missing or odd Host gets a placeholder.
  const host = req.headers.host && HOST_HEADER.test(req.headers.host) ? req.headers.host : "registry.local";
  return new Request(`http://${host}${req.url}`, {
    method,
    headers,
    ...(withBody ? { body: requestBody(req), duplex: "half" } : {}),
  } as RequestInit);
}

/**
 * The request body as a Web stream, read only as core pulls it. Not Readable.toWeb: after a cancel
 * (core refusing a request before reading its body) it still enqueues bytes the socket had buffered,
 * and the ERR_INVALID_STATE that throws escapes every handler and ends the process (Node 20).
 * A cancel stops reading without destroying the socket, so the error response still reaches the
 * client; writeWebResponse then closes the connection instead of draining the rest.
 */
function requestBody(req: IncomingMessage): ReadableStream<Uint8Array> {
  const chunks = req.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel() {
        void chunks.return?.()?.catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

const SMALL_BODY = 256 * 1024;

export async function writeWebResponse(response: Response, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  res.statusCode = response.status;
  response.headers.forEach((value, key) => res.setHeader(key, value));
  // Answered before the body was read (an error on a large PATCH): close rather than drain gigabytes.
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

/** A node:http request listener over the registry. */
export interface ListenerHooks {
  onDone: (req: IncomingMessage, res: ServerResponse, error?: unknown) => void;
  /** True once shutdown began: responses then close their connection, so the server can stop. */
  closing?: () => boolean;
}

export function registryListener(registry: Registry, { onDone, closing }: ListenerHooks) {
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        if (!req.url?.startsWith("/")) {
          // Absolute-form or "*" targets: not a registry request.
          res.writeHead(400, { "docker-distribution-api-version": "registry/2.0", "content-length": "0" }).end();
          return onDone(req, res);
        }
        const response = await registry.handle(toWebRequest(req), { remoteAddress: req.socket.remoteAddress, rawTarget: req.url });
        if (closing?.()) res.setHeader("connection", "close");
        await writeWebResponse(response, req, res);
        onDone(req, res);
      } catch (error) {
        // The client went away mid-response, or the response stream failed: nothing left to tell it.
        res.destroy();
        onDone(req, res, error);
      }
    })();
  };
}
