import type { Socket } from "node:net";

// Closing a connection whose client is still sending, without losing the answer.
//
// node:http ends a "Connection: close" response with socket.destroySoon(): a FIN, then close(2)
// as soon as the answer is flushed. Bytes still arriving then make the kernel answer with a reset,
// and a client still writing its body sees a broken pipe or a reset instead of our 416 or 401
// (curl about 1 run in 100, Go's resty about 1 in 7 on a 1 MiB PATCH; a client that reads only
// once its body is out, every time). Apache and nginx call the cure a lingering close: send the
// answer and a FIN, keep reading (and dropping) what the client sends until its body ends or a
// bound is hit, and only then close.

/**
 * Makes the socket's coming destroySoon (node:http calls it after a "Connection: close" answer)
 * linger: FIN once the answer is out, close once `draining` settled (the body ended, the client
 * left, or a bound was hit). Only this socket is changed.
 */
export function lingerBeforeClose(socket: Socket, draining: Promise<unknown>): void {
  socket.destroySoon = function lingeringDestroySoon(this: Socket) {
    const flushed = new Promise<void>((resolve) => {
      if (this.writableFinished || this.destroyed) return resolve();
      this.once("finish", resolve);
      this.once("close", resolve);
    });
    if (this.writable) this.end();
    void Promise.all([flushed, draining]).then(() => this.destroy());
  };
}
