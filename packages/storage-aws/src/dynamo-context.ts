import type { Clock } from "@stratus/core";
import type { DynamoIo } from "./dynamo-io.ts";
import type { ManifestOverflow } from "./manifest-overflow.ts";

/** What the parts of the DynamoDB metadata store share: built once by DynamoMetadataStore. */
export interface DynamoContext {
  io: DynamoIo;
  table: string;
  clock: Clock;
  /** Manifests whose bytes and annotations together exceed this go to `overflow`. */
  inlineManifestBytes: number;
  overflow: ManifestOverflow | undefined;
  /** An upload session item expires this long after its last update (the TTL attribute). */
  sessionTtlSeconds: number;
}
