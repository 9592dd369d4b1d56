import { resolve } from "node:path";

// The file test/aws/request-counts.test.ts writes and scripts/cost.ts reads: one format, here.

export const MEASUREMENTS_FILE = resolve(import.meta.dirname, "../../../.tmp/aws-request-counts.json");
/** Whole client sessions in multi-tenant mode (challenge and token included): test/aws/request-counts-multi-tenant.test.ts. */
export const MULTI_TENANT_MEASUREMENTS_FILE = resolve(import.meta.dirname, "../../../.tmp/aws-request-counts-multi-tenant.json");

/** One registry request as the client sent it: API Gateway meters requests by body size. */
export interface RegistryCall {
  method: string;
  route: string;
  status: number;
  bodyBytes: number;
}

export interface OperationMeasure {
  id: string;
  description: string;
  registry: { requests: number; calls: RegistryCall[] };
  dynamodb: { requests: number; counts: Record<string, number>; readUnits: number; writeUnits: number; readUnitsBy: Record<string, number>; writeUnitsBy: Record<string, number>; reportedCapacity: Record<string, number> };
  s3: { requests: number; counts: Record<string, number>; presigned: Record<string, number>; bytesUp: number };
  /** Presigned URLs the client follows: one S3 GET each, billed to the bucket owner, and the bytes it downloads. */
  client: { s3Gets: number; bytesDown: number };
  /** Table growth of a push: its items and their billed bytes (item size + 100 bytes each). */
  storage?: { dynamoItems: number; dynamoBytes: number };
  /** Sizes of the pulled image. */
  image?: { manifestBytes: number; configBytes: number; layerBytes: number };
  /** The large layer: its size and S3 parts. */
  layerBytes?: number;
  parts?: number;
}

export interface Measurements {
  measuredAt: string;
  backends: string;
  layers: number;
  operations: Record<string, OperationMeasure>;
}
