// `npm run cost`: prices the AWS requests measured by test/aws/request-counts.test.ts (which writes
// .tmp/aws-request-counts.json) for a stated monthly workload at us-east-1 list prices, and prints
// markdown tables (docs/cost.md is one run's output, with the assumptions explained).
//
//   node --import tsx scripts/cost.ts [path/to/aws-request-counts.json]
import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { MEASUREMENTS_FILE, type Measurements, type OperationMeasure } from "../test/aws/support/request-measures.ts";

// ---------------------------------------------------------------------------------------------
// List prices, us-east-1, on-demand, no free tier, no savings plans, as published on the AWS pricing
// pages named beside each in 2025 (the issue's figures; unchanged on those pages for years). Recheck
// them before quoting a bill.
// ---------------------------------------------------------------------------------------------

/** https://aws.amazon.com/s3/pricing/ (Requests & data retrievals, S3 Standard): PUT, COPY, POST, LIST per 1,000. */
const S3_TIER1_PER_1000 = 0.005;
/** Same page: GET, SELECT and all other requests per 1,000. DELETE and CANCEL (abort) are free. */
const S3_TIER2_PER_1000 = 0.0004;
/** Same page (Storage, S3 Standard, first 50 TB): per GB-month. */
const S3_STORAGE_PER_GB_MONTH = 0.023;
/** https://aws.amazon.com/dynamodb/pricing/on-demand/ : per million write request units. */
const DYNAMODB_PER_MILLION_WRU = 0.625;
/** Same page: per million read request units. */
const DYNAMODB_PER_MILLION_RRU = 0.125;
/** Same page (Data storage, Standard table class, beyond the first 25 GB): per GB-month. */
const DYNAMODB_STORAGE_PER_GB_MONTH = 0.25;
/** https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million): per million requests, metered in 512 KB increments. */
const API_GATEWAY_HTTP_PER_MILLION = 1.0;
const API_GATEWAY_METERING_BYTES = 512 * 1024;
/** https://aws.amazon.com/lambda/pricing/ : per million requests. */
const LAMBDA_PER_MILLION_REQUESTS = 0.2;
/** Same page (Arm, first 7.5 billion GB-seconds): per GB-second. */
const LAMBDA_ARM_PER_GB_SECOND = 0.0000133334;
/** https://aws.amazon.com/ec2/pricing/on-demand/ (Data transfer out to the internet, first 10 TB/month): per GB. */
const EGRESS_PER_GB = 0.09;
/** Same page, the next tiers (next 40 TB, next 100 TB, over 150 TB): shown for reference only. */
const EGRESS_TIERS: Array<[tb: number, perGb: number]> = [[10, 0.09], [40, 0.085], [100, 0.07], [Infinity, 0.05]];
/** https://aws.amazon.com/ecr/pricing/ : storage per GB-month; ECR charges no per-request fee, and data transfer as EC2. */
const ECR_STORAGE_PER_GB_MONTH = 0.1;

// ---------------------------------------------------------------------------------------------
// Assumptions
// ---------------------------------------------------------------------------------------------

/** Lambda (the serverless deployment, a later issue): every registry request runs this long at this memory size... */
const LAMBDA_MS_PER_REQUEST = 30;
const LAMBDA_MEMORY_GB = 0.5;
/** ...plus the time to take a request body in, at this rate (layer bytes on push). */
const LAMBDA_BODY_MIB_PER_SECOND = 50;

const MiB = 1024 * 1024;
/** AWS bills storage and data transfer per GB of 2^30 bytes. */
const GB = 1024 * MiB;

const WORKLOAD = {
  pulls: 1_000_000,
  pushes: 10_000,
  tagLists: 1_000,
  layers: 10,
  imageBytes: 200 * MiB,
  /** Every push brings new content (a CI build), and images are kept 30 days: one month of pushes is stored. */
  storedImages: 10_000,
};

// ---------------------------------------------------------------------------------------------
// The measurements (format: test/aws/support/request-measures.ts)
// ---------------------------------------------------------------------------------------------

const file = process.argv[2] ? resolve(process.argv[2]) : MEASUREMENTS_FILE;
let data: Measurements;
try {
  data = JSON.parse(readFileSync(file, "utf8")) as Measurements;
} catch (error) {
  console.error(`cannot read ${file}: run \`npm run cost\` (it runs test/aws/request-counts.test.ts first)\n${String(error)}`);
  process.exit(1);
}
const op = (id: string): OperationMeasure => {
  const m = data.operations[id];
  if (!m) throw new Error(`${file} has no measure of ${id}: rerun test/aws/request-counts.test.ts`);
  return m;
};

// ---------------------------------------------------------------------------------------------
// Pricing one operation
// ---------------------------------------------------------------------------------------------

const S3_FREE = new Set(["DeleteObject", "DeleteObjects", "AbortMultipartUpload"]);
const isTier2 = (command: string) => /^(Get|Head|Select)/.test(command);

/** What one operation consumes of each billed unit. */
interface Usage {
  apiRequests: number;
  /** API Gateway's billed requests: one per 512 KB of request body (at least one). */
  apiMetered: number;
  lambdaGbSeconds: number;
  rru: number;
  wru: number;
  s3Tier1: number;
  /** GET-class requests by the registry plus the presigned GETs clients make to S3. */
  s3Tier2: number;
  s3Free: number;
  bytesOut: number;
}

function usageOf(m: OperationMeasure): Usage {
  let s3Tier1 = 0;
  let s3Tier2 = m.client.s3Gets;
  let s3Free = 0;
  for (const [command, n] of Object.entries(m.s3.counts)) {
    if (S3_FREE.has(command)) s3Free += n;
    else if (isTier2(command)) s3Tier2 += n;
    else s3Tier1 += n;
  }
  const calls = m.registry.calls;
  return {
    apiRequests: calls.length,
    apiMetered: calls.reduce((sum, c) => sum + Math.max(1, Math.ceil(c.bodyBytes / API_GATEWAY_METERING_BYTES)), 0),
    lambdaGbSeconds: calls.reduce((sum, c) => sum + (LAMBDA_MS_PER_REQUEST / 1000 + c.bodyBytes / MiB / LAMBDA_BODY_MIB_PER_SECOND) * LAMBDA_MEMORY_GB, 0),
    rru: m.dynamodb.readUnits,
    wru: m.dynamodb.writeUnits,
    s3Tier1,
    s3Tier2,
    s3Free,
    bytesOut: m.client.bytesDown,
  };
}

function add(...usages: Array<[Usage, number]>): Usage {
  const out: Usage = { apiRequests: 0, apiMetered: 0, lambdaGbSeconds: 0, rru: 0, wru: 0, s3Tier1: 0, s3Tier2: 0, s3Free: 0, bytesOut: 0 };
  for (const [u, times] of usages) for (const k of Object.keys(out) as (keyof Usage)[]) out[k] += u[k] * times;
  return out;
}

interface Bill {
  apiGateway: number;
  lambdaRequests: number;
  lambdaCompute: number;
  dynamoReads: number;
  dynamoWrites: number;
  s3Tier1: number;
  s3Tier2: number;
}

function billOf(u: Usage): Bill {
  return {
    apiGateway: (u.apiMetered / 1e6) * API_GATEWAY_HTTP_PER_MILLION,
    lambdaRequests: (u.apiRequests / 1e6) * LAMBDA_PER_MILLION_REQUESTS,
    lambdaCompute: u.lambdaGbSeconds * LAMBDA_ARM_PER_GB_SECOND,
    dynamoReads: (u.rru / 1e6) * DYNAMODB_PER_MILLION_RRU,
    dynamoWrites: (u.wru / 1e6) * DYNAMODB_PER_MILLION_WRU,
    s3Tier1: (u.s3Tier1 / 1000) * S3_TIER1_PER_1000,
    s3Tier2: (u.s3Tier2 / 1000) * S3_TIER2_PER_1000,
  };
}

const total = (b: Bill) => Object.values(b).reduce((a, v) => a + v, 0);
/** What the storage services alone charge per request: the Node server on EC2/ECS pays these, not API Gateway or Lambda. */
const storageRequests = (b: Bill) => b.dynamoReads + b.dynamoWrites + b.s3Tier1 + b.s3Tier2;

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const num = (n: number) => (Number.isInteger(n) ? int(n) : n.toLocaleString("en-US", { maximumFractionDigits: 1 }));
function usd(n: number): string {
  const digits = n === 0 ? 2 : Math.abs(n) < 0.01 ? 4 : 2;
  return `$${n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}
const byCommand = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "–";

function table(header: string[], rows: string[][], align: ("l" | "r")[]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(align.map((a) => (a === "r" ? "---:" : "---"))), ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------
// 1. Requests per operation, as measured
// ---------------------------------------------------------------------------------------------

const rows: Array<[label: string, id: string]> = [
  ["GET /v2/ (session start)", "ping"],
  ["HEAD blob", "blob.head"],
  ["GET blob (307 to S3)", "blob.get"],
  ["HEAD manifest by tag", "manifest.head"],
  ["GET manifest by tag", "manifest.get"],
  ["GET tags/list", "tags.list"],
  ["push: small layer (one S3 object)", "push.layer.small"],
  [`push: large layer (${(op("push.layer.large").layerBytes ?? 0) / MiB} MiB, ${op("push.layer.large").parts} parts)`, "push.layer.large"],
  ["push: first layer of a new repository", "push.layer.new-repository"],
  ["push: HEAD + PUT manifest", "push.manifest"],
  [`push of a ${data.layers}-layer image (small layers)`, "push.image"],
  [`pull of the ${data.layers}-layer image`, "pull.image"],
  ["re-push of the same image", "repush.image"],
];

const out: string[] = [];
out.push(`Measured ${data.measuredAt} against ${data.backends}; read from ${relative(process.cwd(), file)}.`);
out.push("");
out.push(`## Requests per operation (measured)`);
out.push("");
out.push(
  table(
    ["operation", "registry requests", "DynamoDB requests", "RRU", "WRU", "S3 requests (registry)", "S3 GETs (client)", "per 1,000: serverless", "per 1,000: DynamoDB + S3 only"],
    rows.map(([label, id]) => {
      const m = op(id);
      const bill = billOf(usageOf(m));
      return [label, int(m.registry.requests), int(m.dynamodb.requests), num(m.dynamodb.readUnits), num(m.dynamodb.writeUnits), int(m.s3.requests), int(m.client.s3Gets), usd(total(bill) * 1000), usd(storageRequests(bill) * 1000)];
    }),
    ["l", "r", "r", "r", "r", "r", "r", "r", "r"],
  ),
);
out.push("");
out.push(
  table(
    ["operation", "DynamoDB requests by command", "S3 requests by command"],
    rows.map(([label, id]) => [label, byCommand(op(id).dynamodb.counts), byCommand(op(id).s3.counts)]),
    ["l", "l", "l"],
  ),
);

// ---------------------------------------------------------------------------------------------
// 2. The workload's monthly bill
// ---------------------------------------------------------------------------------------------

const layerBytes = WORKLOAD.imageBytes / WORKLOAD.layers;
const large = op("push.layer.large");
if (large.layerBytes !== layerBytes) throw new Error(`the measured large layer has ${large.layerBytes} bytes, the workload's ${layerBytes}: keep them equal`);
const small = op("push.layer.small");
const pull = op("pull.image");
if (pull.client.s3Gets !== WORKLOAD.layers + 1) throw new Error(`the measured pull fetched ${pull.client.s3Gets} blobs, not ${WORKLOAD.layers} layers and a config`);
const ping = usageOf(op("ping"));

// A push: session start, the config as a small blob, every layer as a large one, HEAD + PUT manifest.
const pushUsage = add([ping, 1], [usageOf(small), 1], [usageOf(large), WORKLOAD.layers], [usageOf(op("push.manifest")), 1]);
// A pull: session start, the manifest, the config and every layer; the layers' bytes scaled to the workload's size.
const pullUsage = add([ping, 1], [usageOf(pull), 1]);
// Egress: the workload's layers, the config and the manifest (from the registry: egress too).
pullUsage.bytesOut = WORKLOAD.imageBytes + pull.image!.configBytes + pull.image!.manifestBytes;
const tagUsage = add([ping, 1], [usageOf(op("tags.list")), 1]);

const columns: Array<[string, string, Usage, number]> = [
  [`${int(WORKLOAD.pulls)} pulls`, "one pull", pullUsage, WORKLOAD.pulls],
  [`${int(WORKLOAD.pushes)} pushes`, "one push", pushUsage, WORKLOAD.pushes],
  [`${int(WORKLOAD.tagLists)} tag lists`, "one tag list", tagUsage, WORKLOAD.tagLists],
];
const monthly = columns.map(([label, , u, n]) => [label, add([u, n])] as const);
const all = add(...monthly.map(([, u]) => [u, 1] as [Usage, number]));
const bills = [...monthly.map(([, u]) => billOf(u)), billOf(all)];

// S3 holds the layers and the config (and a digest index entry of ~60 bytes per blob); manifests are in DynamoDB.
const storedBytes = WORKLOAD.storedImages * (WORKLOAD.imageBytes + pull.image!.configBytes);
const dynamoBytesPerImage = op("push.image").storage?.dynamoBytes ?? 0;
const dynamoStored = WORKLOAD.storedImages * dynamoBytesPerImage;
const s3Storage = (storedBytes / GB) * S3_STORAGE_PER_GB_MONTH;
const dynamoStorage = (dynamoStored / GB) * DYNAMODB_STORAGE_PER_GB_MONTH;
const egressBytes = all.bytesOut;
const egress = (egressBytes / GB) * EGRESS_PER_GB;
const requests = total(bills.at(-1)!);

out.push("");
out.push(`## Monthly bill: ${int(WORKLOAD.pulls)} pulls, ${int(WORKLOAD.pushes)} pushes, ${int(WORKLOAD.tagLists)} tag lists of a ${WORKLOAD.layers}-layer image of ${WORKLOAD.imageBytes / MiB} MiB (us-east-1 list prices)`);
out.push("");
out.push(
  [
    "Assumptions (constants in scripts/cost.ts):",
    "",
    `- a pull is GET /v2/, GET manifest by tag, GET of the config and of the ${WORKLOAD.layers} layers (307, then one S3 GET each by the client); every pull downloads all ${WORKLOAD.imageBytes / MiB} MiB (no layer cached);`,
    `- a push is GET /v2/, the config pushed as a small blob, ${WORKLOAD.layers} layers of ${layerBytes / MiB} MiB as measured for the large layer, HEAD + PUT manifest; every push brings new content (a CI build) into an existing repository;`,
    "- a tag list is GET /v2/ and GET tags/list;",
    `- storage: ${int(WORKLOAD.storedImages)} images kept (a month of pushes, 30-day retention), no layer shared between them; DynamoDB bytes per image as measured (items + 100 B each);`,
    `- Lambda (the serverless deployment): ${LAMBDA_MS_PER_REQUEST} ms at ${LAMBDA_MEMORY_GB * 1024} MB per request, plus request bodies at ${LAMBDA_BODY_MIB_PER_SECOND} MiB/s; API Gateway meters a request per 512 KB of body;`,
    "- DynamoDB units: computed from the items sent and received by DynamoDB's rules (strongly consistent reads, transactional writes at 2 WRU per KB, GSI writes), on-demand mode;",
    "- no free tier, no volume tiers (except the egress note), no CloudWatch, KMS or NAT charges.",
    "",
    "Units per operation of the workload (from the measures above):",
  ].join("\n"),
);
out.push("");
out.push(
  table(
    ["per", "API requests (metered)", "Lambda GB-s", "RRU", "WRU", "S3 PUT/COPY/POST/LIST", "S3 GET (registry + client)", "S3 free (DELETE, abort)", "bytes out"],
    columns.map(([, label, u]) => [
      label,
      `${int(u.apiRequests)} (${int(u.apiMetered)})`,
      u.lambdaGbSeconds.toFixed(3),
      num(u.rru),
      num(u.wru),
      int(u.s3Tier1),
      int(u.s3Tier2),
      int(u.s3Free),
      `${(u.bytesOut / MiB).toFixed(1)} MiB`,
    ]),
    ["l", "r", "r", "r", "r", "r", "r", "r", "r"],
  ),
);
out.push("");
const line = (label: string, pick: (b: Bill) => number) => [label, ...bills.map((b) => usd(pick(b)))];
out.push(
  table(
    ["line item", ...columns.map(([label]) => label), "month"],
    [
      line(`API Gateway HTTP API ($${API_GATEWAY_HTTP_PER_MILLION.toFixed(2)}/million, 512 KB increments)`, (b) => b.apiGateway),
      line(`Lambda requests ($${LAMBDA_PER_MILLION_REQUESTS.toFixed(2)}/million)`, (b) => b.lambdaRequests),
      line(`Lambda arm64 compute (${LAMBDA_MS_PER_REQUEST} ms at ${LAMBDA_MEMORY_GB * 1024} MB per request, bodies at ${LAMBDA_BODY_MIB_PER_SECOND} MiB/s)`, (b) => b.lambdaCompute),
      line(`DynamoDB reads ($${DYNAMODB_PER_MILLION_RRU}/million RRU)`, (b) => b.dynamoReads),
      line(`DynamoDB writes ($${DYNAMODB_PER_MILLION_WRU}/million WRU)`, (b) => b.dynamoWrites),
      line(`S3 PUT/COPY/POST/LIST ($${S3_TIER1_PER_1000}/1,000)`, (b) => b.s3Tier1),
      line(`S3 GET ($${S3_TIER2_PER_1000}/1,000; client downloads included)`, (b) => b.s3Tier2),
      line("**requests, serverless** (all of the above)", total).map((c, i) => (i === 0 ? c : `**${c}**`)),
      line("requests, Node server on EC2/ECS (DynamoDB and S3 only; compute not included)", storageRequests),
    ],
    ["l", "r", "r", "r", "r"],
  ),
);
out.push("");
const rowsTotal: string[][] = [
  ["requests, serverless", usd(requests)],
  [`S3 storage: ${int(WORKLOAD.storedImages)} images kept (${(storedBytes / GB).toFixed(0)} GB at $${S3_STORAGE_PER_GB_MONTH}/GB-month)`, usd(s3Storage)],
  [`DynamoDB storage: ${(dynamoBytesPerImage / 1024).toFixed(1)} KB per image measured (${(dynamoStored / GB).toFixed(2)} GB at $${DYNAMODB_STORAGE_PER_GB_MONTH}/GB-month)`, usd(dynamoStorage)],
  ["**total without egress**", `**${usd(requests + s3Storage + dynamoStorage)}**`],
  [`data transfer out to the internet: ${int(egressBytes / GB)} GB at $${EGRESS_PER_GB}/GB (in-region pulls from EC2/EKS: $0)`, usd(egress)],
  ["**total with egress**", `**${usd(requests + s3Storage + dynamoStorage + egress)}**`],
];
out.push(table(["monthly", "USD"], rowsTotal, ["l", "r"]));
out.push("");

// Tiered egress, for reference: the flat rate above is the first tier's.
let remaining = egressBytes / GB;
let tiered = 0;
for (const [tb, perGb] of EGRESS_TIERS) {
  const inTier = Math.min(remaining, tb * 1024);
  tiered += inTier * perGb;
  remaining -= inTier;
}
const ecrStorage = (storedBytes / GB) * ECR_STORAGE_PER_GB_MONTH;
out.push(
  `**ECR comparison** (same workload, ECR list prices): storage ${usd(ecrStorage)} (${(storedBytes / GB).toFixed(0)} GB at $${ECR_STORAGE_PER_GB_MONTH}/GB-month, no request fees) ` +
    `= ${usd(ecrStorage)} without egress, ${usd(ecrStorage + egress)} with the same egress; ` +
    `Stratus serverless: ${usd(requests + s3Storage + dynamoStorage)} / ${usd(requests + s3Storage + dynamoStorage + egress)}.`,
);
out.push("");
out.push(
  `Egress at the tiered internet rates (${EGRESS_TIERS.map(([tb, p]) => `${Number.isFinite(tb) ? `${tb} TB` : "beyond"} at $${p}`).join(", ")}) would be ${usd(tiered)} instead of ${usd(egress)}; ` +
    `it is the same for any registry on AWS (ECR included) and zero for pulls from the same region.`,
);

console.log(out.join("\n"));
