// `npm start`: the registry on embedded storage, http://127.0.0.1:5000 by default.
import { exitOnFailure, runServerCli } from "./cli.ts";

runServerCli(process.argv.slice(2), process.env).catch(exitOnFailure);
