import { homedir } from "node:os";

// What a command touches outside itself, passed in so tests run commands without a process.

export interface CliIo {
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  /** The whole of standard input (for --key-stdin). */
  readStdin(): Promise<string>;
  fetch: typeof fetch;
  homedir(): string;
}

/** A failure to report on stderr, without a stack: the user's mistake or the server's refusal. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

export function processIo(): CliIo {
  return {
    env: process.env,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    fetch: globalThis.fetch,
    homedir,
  };
}
