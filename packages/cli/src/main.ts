#!/usr/bin/env -S node --import tsx
// `stratus`: the operator's command. Today it serves the registry; tenant, key and login commands
// arrive with the admin API (issue: tenants, token auth and quotas).
import { readFileSync } from "node:fs";
import { exitOnFailure, runServerCli } from "@stratus/server";

const USAGE = `Usage: stratus <command> [options]

Commands:
  serve [options]   run the registry on embedded storage (same as \`npm start\`; --help for options)
  version           print the version
`;

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case "serve":
    await runServerCli(rest, process.env).catch(exitOnFailure);
    break;
  case "version": {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    process.stdout.write(`stratus ${pkg.version}\n`);
    break;
  }
  default:
    process.stdout.write(USAGE);
    process.exit(command === undefined || command === "help" || command === "--help" ? 0 : 2);
}
