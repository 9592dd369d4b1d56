import { Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { IDLE_INDEX, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, tableDefinition } from "../../packages/storage-aws/src/dynamo-table.ts";

// The bucket of blob bytes and the table of metadata (docs/s3-layout.md, docs/dynamodb.md), and the
// one set of permissions every registry process (the Lambda functions, the upload service) gets.

export interface RegistryStorageProps {
  /** RETAIN in production: registry contents outlive a stack deletion. */
  removalPolicy: RemovalPolicy;
  /** Days after which S3 aborts a multipart upload nobody completed (> upload TTL + sweep interval). */
  abortIncompleteUploadsAfterDays: number;
  /**
   * The table's point-in-time recovery window (1 to 35 days), and how long S3 keeps the bytes of a
   * deleted or replaced object as a noncurrent version: a table restored to any point of the window
   * never names a blob whose bytes are gone.
   */
  recoveryWindowDays: number;
}

/** The table's key schema comes from the store's own definition, so the two cannot drift. */
const definition = tableDefinition("unused");
const attributeType = (name: string): dynamodb.AttributeType => {
  const found = definition.AttributeDefinitions?.find((a) => a.AttributeName === name);
  if (!found) throw new Error(`tableDefinition() declares no attribute ${name}`);
  return found.AttributeType as dynamodb.AttributeType;
};

export class RegistryStorage extends Construct {
  readonly bucket: s3.Bucket;
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: RegistryStorageProps) {
    super(scope, id);

    this.bucket = new s3.Bucket(this, "Blobs", {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // Clients never read the bucket directly: they follow presigned URLs (docs/s3-layout.md "Pulls").
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // A delete (garbage collection, repository deletion, a replaced staging tail) leaves the bytes as a
      // noncurrent version for the recovery window, then S3 expires them. Pulls read current versions:
      // presigned GETs are unchanged. Cost: deleted bytes are stored that much longer (docs/cost.md).
      versioned: true,
      removalPolicy: props.removalPolicy,
      lifecycleRules: [
        {
          id: "abort-incomplete-multipart-uploads",
          // Last resort for uploads whose session sweep never ran (docs/s3-layout.md "Permissions and bucket settings").
          abortIncompleteMultipartUploadAfter: Duration.days(props.abortIncompleteUploadsAfterDays),
        },
        {
          id: "expire-deleted-bytes-after-the-recovery-window",
          noncurrentVersionExpiration: Duration.days(props.recoveryWindowDays),
          // The delete markers left once their versions expired.
          expiredObjectDeleteMarker: true,
        },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: "AwsSolutions-S1",
      reason:
        "Blob bytes are only reachable through presigned URLs the registry issues after its own access check, and the registry logs each request; S3 server access logs would add a second bucket (and its cost) for the same trail.",
    });

    this.table = new dynamodb.Table(this, "Metadata", {
      partitionKey: { name: PARTITION_KEY, type: attributeType(PARTITION_KEY) },
      sortKey: { name: SORT_KEY, type: attributeType(SORT_KEY) },
      // BILLING_MODE in dynamo-table.ts: on demand.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true, recoveryPeriodInDays: props.recoveryWindowDays },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: IDLE_INDEX.name,
      partitionKey: { name: IDLE_INDEX.partitionKey, type: attributeType(IDLE_INDEX.partitionKey) },
      sortKey: { name: IDLE_INDEX.sortKey, type: attributeType(IDLE_INDEX.sortKey) },
      projectionType: dynamodb.ProjectionType[IDLE_INDEX.projection],
    });
  }

  /**
   * What a registry process does with the bucket and the table, and nothing more. Written out rather
   * than `grantReadWrite*`, which add actions the stores never call (s3:PutObjectAcl, DescribeTable...).
   */
  grantRegistryAccess(grantee: iam.IGrantable): void {
    const objects = this.bucket.arnForObjects("*");
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "BlobObjects",
        actions: [
          // GetObject also backs presigned GETs (they carry this role's rights) and UploadPartCopy's source.
          "s3:GetObject",
          // PutObject covers CreateMultipartUpload, UploadPart, UploadPartCopy and CompleteMultipartUpload.
          "s3:PutObject",
          "s3:DeleteObject",
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
          "s3:GetObjectTagging",
          "s3:PutObjectTagging",
        ],
        resources: [objects],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "BlobListing",
        // ListObjectsV2 of an upload's staged tails; ListMultipartUploads to abort an upload's leftovers.
        actions: ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        resources: [this.bucket.bucketArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "MetadataItems",
        // TransactWriteItems is authorized per item as Put/Update/Delete/ConditionCheck (no IAM action of its own).
        actions: [
          "dynamodb:GetItem",
          "dynamodb:BatchGetItem",
          "dynamodb:Query",
          "dynamodb:PutItem",
          "dynamodb:UpdateItem",
          "dynamodb:DeleteItem",
          "dynamodb:ConditionCheckItem",
        ],
        resources: [this.table.tableArn],
      }),
    );
    this.grantIdleIndexQuery(grantee);
  }

  /**
   * What the upload sweep does (core's expireIdle over the AWS stores) and nothing more: find idle
   * sessions on the index and read them back, delete each with its count in the tenant's usage
   * (one transaction: DeleteItem + UpdateItem), abort its multipart upload (keyed
   * <tenant>/blobs/<upload-id>) and delete its staged tails (<tenant>/uploads/<upload-id>/...),
   * sparing a tail tagged as a committed blob. It never reads or writes a blob, a manifest or a tag.
   */
  grantSweepAccess(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "AbortStagedMultipartUploads",
        actions: ["s3:AbortMultipartUpload"],
        resources: [this.bucket.arnForObjects("*/blobs/*")],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "DeleteStagedTails",
        // GetObjectTagging: a tail tagged stratus-blob=committed is a blob and stays (docs/s3-layout.md).
        actions: ["s3:DeleteObject", "s3:GetObjectTagging"],
        resources: [this.bucket.arnForObjects("*/uploads/*")],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "ListStaging",
        // ListObjectsV2 of <tenant>/uploads/<id>/ and ListMultipartUploads of <tenant>/blobs/<id>.
        actions: ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        resources: [this.bucket.bucketArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "SessionItems",
        // listIdleUploads reads candidates back (BatchGetItem), deleteUpload reads one (GetItem) and
        // transacts its Delete with the usage item's Update.
        actions: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"],
        resources: [this.table.tableArn],
      }),
    );
    this.grantIdleIndexQuery(grantee);
  }

  /** Query on the idle-uploads index: the sweep's way to find expired sessions (both roles run it). */
  private grantIdleIndexQuery(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "IdleUploadsIndex",
        actions: ["dynamodb:Query"],
        resources: [`${this.table.tableArn}/index/${IDLE_INDEX.name}`],
      }),
    );
  }
}

/** The acknowledgement every role holding grantRegistryAccess() needs, with its reason. */
export function acknowledgeObjectWildcard(policy: Construct, storage: RegistryStorage): void {
  Validations.of(policy).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId(storage)}.Arn>/*]`,
    reason:
      "Object keys are computed per request (<tenant>/blobs/<upload-id>, <tenant>/uploads/..., docs/s3-layout.md): the grant is every object of this one bucket, no other bucket.",
  });
}

/** The acknowledgements of grantSweepAccess(), with their reason. */
export function acknowledgeSweepWildcards(policy: Construct, storage: RegistryStorage): void {
  for (const keys of ["*/blobs/*", "*/uploads/*"]) {
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId(storage)}.Arn>/${keys}]`,
      reason:
        "The sweep removes sessions of every tenant: keys start with the tenant (docs/s3-layout.md), so the grant names the staging part of the key (blobs/ for multipart aborts, uploads/ for tails) under any tenant of this one bucket.",
    });
  }
}

function bucketLogicalId(storage: RegistryStorage): string {
  return (Stack.of(storage).resolve(storage.bucket.bucketArn) as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
}
