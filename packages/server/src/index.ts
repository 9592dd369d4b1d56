export { startServer, type RunningServer } from "./server.ts";
export { parseServerOptions, serverOptionsSchema, type ServerOptions, type ServerOptionsInput } from "./options.ts";
export { registryListener, toWebRequest, writeWebResponse } from "./node-adapter.ts";
export { runServerCli, exitOnFailure } from "./cli.ts";
