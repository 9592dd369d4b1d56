import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serverOptionsSchema, startServer } from "@stratus/server";
import { httpApiSuite, type StartOptions } from "./suite.ts";

// The HTTP API suite against the local deployment: packages/server over a fresh temporary data dir.
httpApiSuite("the local server", async (options: StartOptions = {}) => {
  const dataDir = await mkdtemp(join(tmpdir(), "stratus-http-api-"));
  const server = await startServer(serverOptionsSchema.parse({ port: 0, dataDir, logLevel: "silent", ...options }));
  return {
    url: server.url,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
