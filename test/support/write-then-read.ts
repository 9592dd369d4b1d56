import { connect } from "node:net";

// The strictest HTTP client there is: it writes its request, body and all, and reads only once the
// body is out. curl and Go clients read as they write and lose less often to a server that closes
// while they write (about 1 run in 100, and 1 in 7); this one loses every time, so tests use it.

export interface RawOutcome {
  status?: number;
  headers?: Record<string, string>;
  /** What ended the connection before an answer's head arrived. */
  error?: string;
}

/** A request head with the given headers (host and content-length added); names as given. */
export function requestHead(method: string, target: string, headers: Record<string, string>, bodyLength: number): string {
  const lines = Object.entries({ host: "127.0.0.1", "content-length": String(bodyLength), ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  return `${method} ${target} HTTP/1.1\r\n${lines.join("")}\r\n`;
}

/** Sends `head` and `body` on a connection of its own, then reads; resolves with the answer's status and headers. */
export function writeThenRead(port: number, head: string, body: Uint8Array): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.pause();
    let received = "";
    const settle = (outcome: RawOutcome) => {
      socket.destroy();
      resolve(outcome);
    };
    socket.on("error", (e: NodeJS.ErrnoException) => settle({ error: e.code ?? e.message }));
    socket.on("close", () => settle({ error: `closed after ${JSON.stringify(received.slice(0, 40))}` }));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      const end = received.indexOf("\r\n\r\n");
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(received);
      if (!status || end < 0) return;
      const headers = Object.fromEntries(
        received
          .slice(0, end)
          .split("\r\n")
          .slice(1)
          .map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
      );
      settle({ status: Number(status[1]), headers });
    });
    socket.write(head);
    socket.write(body, (error) => {
      if (!error) socket.resume();
    });
  });
}
