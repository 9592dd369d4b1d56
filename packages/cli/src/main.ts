#!/usr/bin/env -S node --import tsx
// `stratus`: the operator's command. `serve` runs the registry; the other commands talk to a
// running registry's admin API (cli.ts), or write the docker config (`login`).
import { readFileSync } from "node:fs";
import { exitOnFailure, runServerCli } from "@stratus/server";
import { isAdminCommand, runCli, USAGE } from "./cli.ts";
import { processIo } from "./io.ts";

const [command, ...rest] = process.argv.slice(2);
if (command === "serve") {
  await runServerCli(rest, process.env).catch(exitOnFailure);
} else if (command === "version") {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  process.stdout.write(`stratus ${pkg.version}\n`);
} else if (isAdminCommand(command)) {
  process.exitCode = await runCli(process.argv.slice(2), processIo()).catch(exitOnFailure);
} else if (command === undefined || command === "help" || command === "--help" || command === "-h") {
  process.stdout.write(USAGE);
} else {
  process.stderr.write(`stratus: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  process.exitCode = 1;
}
