import type { IncomingMessage } from "node:http";

// A request body as core reads it, counted; and what is left of it once core answered without
// reading it all (a refusal), read and dropped so the client gets to read that answer.

/** The body bytes of one request: those core read, and those dropped after it answered. */
export class BodyMeter {
  read = 0;
  discarded = 0;
  /** The body's end was reached, by core or while discarding. */
  ended = false;

  get received(): number {
    return this.read + this.discarded;
  }
}

/**
 * The request body as a Web stream, read only as core pulls it, every byte counted. Not
 * Readable.toWeb: after a cancel (core refusing a request before reading its body) it still
 * enqueues bytes the socket had buffered, and the ERR_INVALID_STATE that throws escapes every
 * handler and ends the process (Node 20). A cancel stops reading without destroying the socket, so
 * the error response still reaches the client; discardRest then takes what is left.
 * `beforeFirstRead` runs once, when core first asks for bytes (to send 100 Continue then).
 */
export function requestBody(req: IncomingMessage, meter: BodyMeter, beforeFirstRead?: () => void): ReadableStream<Uint8Array> {
  const chunks = req.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>;
  let first = beforeFirstRead;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        first?.();
        first = undefined;
        const next = await chunks.next();
        if (next.done) {
          meter.ended = true;
          controller.close();
        } else {
          meter.read += next.value.length;
          controller.enqueue(next.value);
        }
      },
      cancel() {
        void chunks.return?.()?.catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

export interface DiscardLimits {
  /** Bytes dropped at most; past them the client is not listening to the answer anyway. */
  bytes: number;
  /** From the answer to the end of the body, at most. */
  totalMs: number;
  /** Without a byte from the client, at most. */
  idleMs: number;
}

/**
 * nginx's lingering_time and lingering_timeout (30 s, 5 s), with a byte bound as well. A client that
 * reads while it writes (curl, Go, Node) sees the answer within a round trip and can stop; one that
 * reads only once its body is out needs all of it taken. 64 MiB covers the chunks clients send
 * (docker's whole-blob PATCH of a larger layer can still be cut, after 64 MiB, by a reset).
 */
export const DISCARD_LIMITS: DiscardLimits = { bytes: 64 * 1024 * 1024, totalMs: 30_000, idleMs: 5_000 };

export type DiscardOutcome = "ended" | "closed" | "limit";

/** Whether the body still has bytes core did not read: buffered, or yet to arrive. */
export function hasUnreadBody(req: IncomingMessage, meter: BodyMeter): boolean {
  return !meter.ended && !req.readableEnded && !(req.complete && req.readableLength === 0);
}

/**
 * Reads and drops the rest of a body core answered without reading, counting it in `meter`; never
 * buffered, so memory stays constant whatever the client sends. Resolves when the body ended, the
 * connection closed, or a limit was hit (the caller then closes the connection).
 */
export function discardRest(req: IncomingMessage, meter: BodyMeter, limits: DiscardLimits = DISCARD_LIMITS): Promise<DiscardOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: DiscardOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(total);
      clearTimeout(idle);
      req.off("data", onData);
      req.socket.off("close", onClose);
      // Flowing with no listener: anything still parsed off the socket is dropped until it closes.
      resolve(outcome);
    };
    const total = setTimeout(() => finish("limit"), limits.totalMs);
    const idle = setTimeout(() => finish("limit"), limits.idleMs);
    const onData = (chunk: Buffer) => {
      meter.discarded += chunk.length;
      if (meter.discarded > limits.bytes) finish("limit");
      else idle.refresh();
    };
    req.on("data", onData);
    req.once("end", () => {
      meter.ended = true;
      finish("ended");
    });
    // Once its answer is out, node:http no longer destroys the request when the connection closes.
    const onClose = () => finish("closed");
    req.once("close", onClose);
    req.socket.once("close", onClose);
    // The client going away mid-body is expected here; nothing to report.
    req.on("error", () => finish("closed"));
    req.resume();
  });
}
