// List prices per region for `npm run cost` (scripts/cost.ts): on-demand, no free tier, no Savings
// Plans, no volume tiers except egress. Each figure names its AWS pricing page. us-east-1 figures are
// the ones the first cost report quoted from those pages; eu-west-1 (the stages' region, infra/stages.ts)
// figures are where they differ, as those pages listed them when written (2026-12, not re-read from
// this machine, which has no access to them): recheck before quoting a bill.

export interface Prices {
  region: string;
  /** https://aws.amazon.com/s3/pricing/ (S3 Standard): PUT, COPY, POST, LIST per 1,000; GET per 1,000; storage, first 50 TB, per GB-month. */
  s3Tier1Per1000: number;
  s3Tier2Per1000: number;
  s3StoragePerGbMonth: number;
  /** https://aws.amazon.com/dynamodb/pricing/on-demand/ : per million WRU and RRU; storage (Standard, beyond 25 GB) and point-in-time recovery per GB-month. */
  dynamoPerMillionWru: number;
  dynamoPerMillionRru: number;
  dynamoStoragePerGbMonth: number;
  dynamoPitrPerGbMonth: number;
  /** https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million): per million requests, metered in 512 KB increments. */
  apiGatewayHttpPerMillion: number;
  /** https://aws.amazon.com/lambda/pricing/ : per million requests; Arm per GB-second. */
  lambdaPerMillionRequests: number;
  lambdaArmPerGbSecond: number;
  /** https://aws.amazon.com/ec2/pricing/on-demand/ (Data transfer out to the internet): tiers per month. */
  egressTiers: Array<[tb: number, perGb: number]>;
  /** https://aws.amazon.com/ecr/pricing/ : storage per GB-month (no request fee). */
  ecrStoragePerGbMonth: number;
  /** https://aws.amazon.com/fargate/pricing/ (Linux/ARM): per vCPU-hour and per GB-hour. */
  fargateArmPerVcpuHour: number;
  fargateArmPerGbHour: number;
  /** https://aws.amazon.com/elasticloadbalancing/pricing/ (Application Load Balancer): per hour; per LCU-hour (1 LCU = 1 GB processed for IP targets, when bytes dominate). */
  albPerHour: number;
  albPerLcuHour: number;
  /** https://aws.amazon.com/vpc/pricing/ (Public IPv4 addresses): per address-hour, in use or not. */
  publicIpv4PerHour: number;
  /** https://aws.amazon.com/secrets-manager/pricing/ : per secret-month. */
  secretPerMonth: number;
  /** https://aws.amazon.com/codebuild/pricing/ (arm1.small, Linux): per build minute. */
  codebuildArmSmallPerMinute: number;
}

const US_EAST_1: Prices = {
  region: "us-east-1",
  s3Tier1Per1000: 0.005,
  s3Tier2Per1000: 0.0004,
  s3StoragePerGbMonth: 0.023,
  dynamoPerMillionWru: 0.625,
  dynamoPerMillionRru: 0.125,
  dynamoStoragePerGbMonth: 0.25,
  dynamoPitrPerGbMonth: 0.2,
  apiGatewayHttpPerMillion: 1.0,
  lambdaPerMillionRequests: 0.2,
  lambdaArmPerGbSecond: 0.0000133334,
  egressTiers: [[10, 0.09], [40, 0.085], [100, 0.07], [Infinity, 0.05]],
  ecrStoragePerGbMonth: 0.1,
  fargateArmPerVcpuHour: 0.03238,
  fargateArmPerGbHour: 0.00356,
  albPerHour: 0.0225,
  albPerLcuHour: 0.008,
  publicIpv4PerHour: 0.005,
  secretPerMonth: 0.4,
  codebuildArmSmallPerMinute: 0.0034,
};

/** Europe (Ireland): API Gateway, DynamoDB and the load balancer cost more; S3, Lambda, Fargate, egress and the rest as us-east-1. */
const EU_WEST_1: Prices = {
  ...US_EAST_1,
  region: "eu-west-1",
  dynamoPerMillionWru: 0.7068,
  dynamoPerMillionRru: 0.1415,
  dynamoStoragePerGbMonth: 0.283,
  dynamoPitrPerGbMonth: 0.2265,
  apiGatewayHttpPerMillion: 1.11,
  albPerHour: 0.0252,
};

export const PRICES: Record<string, Prices> = { "us-east-1": US_EAST_1, "eu-west-1": EU_WEST_1 };

/** Hours in a billing month, as AWS's calculator counts them. */
export const HOURS_PER_MONTH = 730;

export interface StageShape {
  name: string;
  uploadService: { enabled: boolean; minTasks: number; cpu: number; memoryMiB: number };
}

/**
 * What a stage costs a month before any request: the secrets and, with the upload service, its
 * Fargate tasks at minTasks, the load balancer's hours and the public IPv4 addresses (one per
 * task, one per load balancer node in each of the VPC's two zones). Load balancer capacity units,
 * CodeBuild and ECR scale with use: cost.ts prices them with the workload.
 */
export function fixedMonthly(stage: StageShape, p: Prices): Array<[label: string, usd: number]> {
  const secrets = stage.uploadService.enabled ? 3 : 2;
  const lines: Array<[string, number]> = [[`Secrets Manager: ${secrets} secrets at $${p.secretPerMonth}/month`, secrets * p.secretPerMonth]];
  if (!stage.uploadService.enabled) return lines;
  const { minTasks, cpu, memoryMiB } = stage.uploadService;
  const vcpu = cpu / 1024;
  const gb = memoryMiB / 1024;
  const perTaskHour = vcpu * p.fargateArmPerVcpuHour + gb * p.fargateArmPerGbHour;
  const addresses = minTasks + 2;
  lines.push(
    [`Fargate arm64: ${minTasks} tasks of ${vcpu} vCPU and ${gb} GB always on ($${p.fargateArmPerVcpuHour}/vCPU-hour, $${p.fargateArmPerGbHour}/GB-hour)`, minTasks * perTaskHour * HOURS_PER_MONTH],
    [`Application Load Balancer: ${HOURS_PER_MONTH} hours at $${p.albPerHour}`, p.albPerHour * HOURS_PER_MONTH],
    [`public IPv4: ${addresses} addresses (${minTasks} tasks, the load balancer in 2 zones) at $${p.publicIpv4PerHour}/hour`, addresses * p.publicIpv4PerHour * HOURS_PER_MONTH],
  );
  return lines;
}
