// `npm run cost`: prices the AWS requests measured by test/aws/request-counts.test.ts (single
// operations of the open registry, .tmp/aws-request-counts.json) and
// test/aws/request-counts-multi-tenant.test.ts (whole client sessions in multi-tenant mode, as
// deployed: .tmp/aws-request-counts-multi-tenant.json) for a stated monthly workload at the list
// prices of the stages' region, adds each stage's fixed monthly cost, and prints markdown tables
// (docs/cost.md is one run's output, with the assumptions explained).
//
//   node --import tsx scripts/cost.ts
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { STAGES } from "../infra/stages.ts";
import { REGISTRY_MEMORY_MB } from "../stacks/src/registry-api.ts";
import { MEASUREMENTS_FILE, MULTI_TENANT_MEASUREMENTS_FILE, type Measurements, type OperationMeasure } from "../test/aws/support/request-measures.ts";
import { byCommand, int, num, table, usd } from "./cost-format.ts";
import { fixedMonthly, HOURS_PER_MONTH, PRICES } from "./cost-prices.ts";

// ---------------------------------------------------------------------------------------------
// List prices of the stages' region (scripts/cost-prices.ts names each figure's pricing page)
// ---------------------------------------------------------------------------------------------

const REGION = STAGES.prod!.region;
if (Object.values(STAGES).some((s) => s.region !== REGION)) throw new Error("the stages are in different regions: price each apart");
const P = PRICES[REGION] ?? missingPrices(REGION);
const S3_TIER1_PER_1000 = P.s3Tier1Per1000;
const S3_TIER2_PER_1000 = P.s3Tier2Per1000;
const S3_STORAGE_PER_GB_MONTH = P.s3StoragePerGbMonth;
const DYNAMODB_PER_MILLION_WRU = P.dynamoPerMillionWru;
const DYNAMODB_PER_MILLION_RRU = P.dynamoPerMillionRru;
const DYNAMODB_STORAGE_PER_GB_MONTH = P.dynamoStoragePerGbMonth;
const API_GATEWAY_HTTP_PER_MILLION = P.apiGatewayHttpPerMillion;
const API_GATEWAY_METERING_BYTES = 512 * 1024;
const LAMBDA_PER_MILLION_REQUESTS = P.lambdaPerMillionRequests;
const LAMBDA_ARM_PER_GB_SECOND = P.lambdaArmPerGbSecond;
const EGRESS_TIERS = P.egressTiers;
const EGRESS_PER_GB = EGRESS_TIERS[0]![1];
const ECR_STORAGE_PER_GB_MONTH = P.ecrStoragePerGbMonth;

function missingPrices(region: string): never {
  throw new Error(`scripts/cost-prices.ts has no prices for ${region} (infra/stages.ts): add them`);
}

// ---------------------------------------------------------------------------------------------
// Assumptions
// ---------------------------------------------------------------------------------------------

/** Lambda: every registry request runs this long (an assumption, not a measure) at the function's memory size (the stack's)... */
const LAMBDA_MS_PER_REQUEST = 30;
const LAMBDA_MEMORY_GB = REGISTRY_MEMORY_MB / 1024;
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

function load(file: string): Measurements {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Measurements;
  } catch (error) {
    console.error(`cannot read ${file}: run \`npm run cost\` (it runs the measuring tests first)\n${String(error)}`);
    process.exit(1);
  }
}
const file = MEASUREMENTS_FILE;
const data = load(file);
const mtFile = MULTI_TENANT_MEASUREMENTS_FILE;
const mtData = load(mtFile);
const measureOf = (d: Measurements, f: string) => (id: string): OperationMeasure => {
  const m = d.operations[id];
  if (!m) throw new Error(`${f} has no measure of ${id}: rerun its test`);
  return m;
};
const op = measureOf(data, file);
const mtOp = measureOf(mtData, mtFile);

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
  /** Request bodies through the upload service's load balancer (billed in LCUs: 1 per GB processed). */
  uploadServiceBytes: number;
}

/** With the upload service (prod), these requests reach it on upload.<domain>, not API Gateway and Lambda. */
const ON_UPLOAD_SERVICE = new Set(["PATCH upload", "PUT upload ?digest="]);

function usageOf(m: OperationMeasure, uploadService = false): Usage {
  let s3Tier1 = 0;
  let s3Tier2 = m.client.s3Gets;
  let s3Free = 0;
  for (const [command, n] of Object.entries(m.s3.counts)) {
    if (S3_FREE.has(command)) s3Free += n;
    else if (isTier2(command)) s3Tier2 += n;
    else s3Tier1 += n;
  }
  const calls = m.registry.calls.filter((c) => !(uploadService && ON_UPLOAD_SERVICE.has(c.route)));
  const served = m.registry.calls.filter((c) => uploadService && ON_UPLOAD_SERVICE.has(c.route));
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
    uploadServiceBytes: served.reduce((sum, c) => sum + c.bodyBytes, 0),
  };
}

function add(...usages: Array<[Usage, number]>): Usage {
  const out: Usage = { apiRequests: 0, apiMetered: 0, lambdaGbSeconds: 0, rru: 0, wru: 0, s3Tier1: 0, s3Tier2: 0, s3Free: 0, bytesOut: 0, uploadServiceBytes: 0 };
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
  /** The upload service's load balancer capacity units for the bytes it carried. */
  alb: number;
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
    alb: (u.uploadServiceBytes / GB) * P.albPerLcuHour,
  };
}

const total = (b: Bill) => Object.values(b).reduce((a, v) => a + v, 0);
/** What the storage services alone charge per request: the Node server on EC2/ECS pays these, not API Gateway or Lambda. */
const storageRequests = (b: Bill) => b.dynamoReads + b.dynamoWrites + b.s3Tier1 + b.s3Tier2;

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
out.push(`Measured ${data.measuredAt} and ${mtData.measuredAt} against ${data.backends}; read from ${relative(process.cwd(), file)} and ${relative(process.cwd(), mtFile)}. Prices: ${REGION} (the stages' region).`);
out.push("");
out.push(`## Requests per operation, open registry (measured)`);
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
// 1b. Whole client sessions in multi-tenant mode (as deployed), as measured
// ---------------------------------------------------------------------------------------------

const sessionRows: Array<[label: string, id: string]> = [
  ["push session start: GET /v2/ (401), GET /token", "mt.push.session"],
  ["push: small blob (config) with the token", "mt.push.layer.small"],
  [`push: large layer (${(mtOp("mt.push.layer.large").layerBytes ?? 0) / MiB} MiB) with the token`, "mt.push.layer.large"],
  ["push: HEAD + PUT manifest with the token", "mt.push.manifest"],
  [`pull session: GET /v2/ (401), GET /token, manifest, config, ${mtData.layers} layers`, "mt.pull.session"],
  ["the same, anonymous, of a public repository", "mt.pull.anonymous"],
  ["tag list session: GET /v2/ (401), GET /token, tags/list", "mt.tags.session"],
];
out.push("");
out.push("## Client sessions in multi-tenant mode (measured; every deployment runs this mode)");
out.push("");
out.push(
  table(
    ["session step", "registry requests", "DynamoDB requests", "RRU", "WRU", "S3 requests (registry)", "DynamoDB requests by command"],
    sessionRows.map(([label, id]) => {
      const m = mtOp(id);
      return [label, int(m.registry.requests), int(m.dynamodb.requests), num(m.dynamodb.readUnits), num(m.dynamodb.writeUnits), int(m.s3.requests), byCommand(m.dynamodb.counts)];
    }),
    ["l", "r", "r", "r", "r", "r", "l"],
  ),
);

// ---------------------------------------------------------------------------------------------
// 2. The workload's monthly bill, on the prod stage (multi-tenant, upload service)
// ---------------------------------------------------------------------------------------------

const layerBytes = WORKLOAD.imageBytes / WORKLOAD.layers;
const large = mtOp("mt.push.layer.large");
if (large.layerBytes !== layerBytes) throw new Error(`the measured large layer has ${large.layerBytes} bytes, the workload's ${layerBytes}: keep them equal`);
const small = mtOp("mt.push.layer.small");
const pull = mtOp("mt.pull.session");
if (pull.client.s3Gets !== WORKLOAD.layers + 1) throw new Error(`the measured pull fetched ${pull.client.s3Gets} blobs, not ${WORKLOAD.layers} layers and a config`);

// A push session: challenge and token, the config as a small blob, every layer as a large one, HEAD +
// PUT manifest; PATCH and PUT of blobs go to the upload service (prod), the rest to API Gateway.
const pushUsage = add([usageOf(mtOp("mt.push.session")), 1], [usageOf(small, true), 1], [usageOf(large, true), WORKLOAD.layers], [usageOf(mtOp("mt.push.manifest")), 1]);
// A pull session: challenge and token, the manifest, the config and every layer.
const pullUsage = usageOf(pull);
// Egress: the workload's layers, the config and the manifest (from the registry: egress too).
pullUsage.bytesOut = WORKLOAD.imageBytes + pull.image!.configBytes + pull.image!.manifestBytes;
const tagUsage = usageOf(mtOp("mt.tags.session"));

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
out.push(`## Monthly bill of the prod stage: ${int(WORKLOAD.pulls)} pulls, ${int(WORKLOAD.pushes)} pushes, ${int(WORKLOAD.tagLists)} tag lists of a ${WORKLOAD.layers}-layer image of ${WORKLOAD.imageBytes / MiB} MiB (${REGION} list prices)`);
out.push("");
out.push(
  [
    "Assumptions (constants in scripts/cost.ts):",
    "",
    `- every operation is a whole client session in multi-tenant mode as measured: GET /v2/ answered 401, GET /token (Basic credentials), then the work with the token; each session pays the read of its tenant's generation (a tenant that is not busy);`,
    `- a pull is that, GET manifest by tag, GET of the config and of the ${WORKLOAD.layers} layers (307, then one S3 GET each by the client); every pull downloads all ${WORKLOAD.imageBytes / MiB} MiB (no layer cached);`,
    `- a push is that, the config pushed as a small blob, ${WORKLOAD.layers} layers of ${layerBytes / MiB} MiB as measured for the large layer, HEAD + PUT manifest; every push brings new content (a CI build) into an existing repository; the PATCH and PUT of each blob go to the upload service (its load balancer bills 1 LCU-hour per GB carried), HEAD and POST to API Gateway and Lambda;`,
    "- a tag list is that and GET tags/list;",
    `- storage: ${int(WORKLOAD.storedImages)} images kept (a month of pushes, 30-day retention), no layer shared between them; DynamoDB bytes per image as measured (items + 100 B each);`,
    `- Lambda: ${LAMBDA_MS_PER_REQUEST} ms per request (assumed, not measured) at the registry function's ${REGISTRY_MEMORY_MB} MB (stacks/src/registry-api.ts), plus request bodies at ${LAMBDA_BODY_MIB_PER_SECOND} MiB/s; API Gateway meters a request per 512 KB of body;`,
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
      line(`upload service load balancer, capacity units (1 per GB carried, $${P.albPerLcuHour} each)`, (b) => b.alb),
      line("**requests** (all of the above)", total).map((c, i) => (i === 0 ? c : `**${c}**`)),
      line("requests, Node server on EC2/ECS (DynamoDB and S3 only; compute not included)", storageRequests),
    ],
    ["l", "r", "r", "r", "r"],
  ),
);
out.push("");
// Versioning (docs/deploy.md "recovery"): the images deleted each month (a month of pushes, as many as
// are pushed) keep their bytes as noncurrent versions for the recovery window; the table is backed up
// continuously (point-in-time recovery, per GB of table).
const windowDays = STAGES.prod!.recoveryWindowDays ?? 35;
const noncurrentBytes = (WORKLOAD.pushes * (WORKLOAD.imageBytes + pull.image!.configBytes) * windowDays) / (HOURS_PER_MONTH / 24);
const noncurrent = (noncurrentBytes / GB) * S3_STORAGE_PER_GB_MONTH;
const pitr = (dynamoStored / GB) * P.dynamoPitrPerGbMonth;
const fixedProd = fixedMonthly(stageShape("prod"), P);
const fixed = fixedProd.reduce((a, [, v]) => a + v, 0);
const beforeEgress = requests + s3Storage + noncurrent + dynamoStorage + pitr + fixed;
const rowsTotal: string[][] = [
  ["requests", usd(requests)],
  [`S3 storage: ${int(WORKLOAD.storedImages)} images kept (${(storedBytes / GB).toFixed(0)} GB at $${S3_STORAGE_PER_GB_MONTH}/GB-month)`, usd(s3Storage)],
  [`S3 noncurrent versions: the month's deleted images kept ${windowDays} days for recovery (${(noncurrentBytes / GB).toFixed(0)} GB)`, usd(noncurrent)],
  [`DynamoDB storage: ${(dynamoBytesPerImage / 1024).toFixed(1)} KB per image measured (${(dynamoStored / GB).toFixed(2)} GB at $${DYNAMODB_STORAGE_PER_GB_MONTH}/GB-month)`, usd(dynamoStorage)],
  [`DynamoDB point-in-time recovery ($${P.dynamoPitrPerGbMonth}/GB-month of table)`, usd(pitr)],
  ["fixed monthly cost of the prod stage (next section)", usd(fixed)],
  ["**total without egress**", `**${usd(beforeEgress)}**`],
  [`data transfer out to the internet: ${int(egressBytes / GB)} GB at $${EGRESS_PER_GB}/GB (in-region pulls from EC2/EKS: $0)`, usd(egress)],
  ["**total with egress**", `**${usd(beforeEgress + egress)}**`],
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
    `Stratus prod stage: ${usd(beforeEgress)} / ${usd(beforeEgress + egress)}.`,
);
out.push("");
out.push(
  `Egress at the tiered internet rates (${EGRESS_TIERS.map(([tb, p]) => `${Number.isFinite(tb) ? `${tb} TB` : "beyond"} at $${p}`).join(", ")}) would be ${usd(tiered)} instead of ${usd(egress)}; ` +
    `it is the same for any registry on AWS (ECR included) and zero for pulls from the same region.`,
);


// ---------------------------------------------------------------------------------------------
// 3. What each stage costs before any request
// ---------------------------------------------------------------------------------------------

function stageShape(name: string) {
  const s = STAGES[name]!;
  return { name, uploadService: { enabled: s.uploadService.enabled, minTasks: s.uploadService.minTasks, cpu: s.uploadService.cpu ?? 512, memoryMiB: s.uploadService.memoryMiB ?? 1024 } };
}
out.push("");
out.push(`## Fixed monthly cost per stage (${REGION}, infra/stages.ts sizes)`);
out.push("");
out.push(
  table(
    ["stage", "line item", "USD/month"],
    Object.keys(STAGES).flatMap((name) => {
      const lines = fixedMonthly(stageShape(name), P);
      return [...lines.map(([label, v]) => [name, label, usd(v)]), [name, "**total**", `**${usd(lines.reduce((a, [, v]) => a + v, 0))}**`]];
    }),
    ["l", "l", "r"],
  ),
);
const buildMinutes = 5;
out.push("");
out.push(
  `Not in the table: the upload service's load balancer capacity units (priced with the workload above), Container Insights metrics and VPC flow logs (rejected traffic only), ` +
    `CloudWatch Logs, and with \`uploadImage=codebuild\` (the default) about ${usd(buildMinutes * P.codebuildArmSmallPerMinute)} per deploy that changed the sources ` +
    `(${buildMinutes} build minutes, an assumption, at $${P.codebuildArmSmallPerMinute}/minute arm1.small) plus the image in ECR (~100 MB at $${ECR_STORAGE_PER_GB_MONTH}/GB-month).`,
);

console.log(out.join("\n"));
