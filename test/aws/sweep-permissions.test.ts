import { randomBytes } from "node:crypto";
import { App, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as iam from "aws-cdk-lib/aws-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, OpenOnLoopbackAuthorizer, type Registry } from "@stratus/core";
import { openAwsStorage, S3_MIN_PART_SIZE, type AwsStorage } from "@stratus/storage-aws";
import { IDLE_INDEX } from "../../packages/storage-aws/src/dynamo-table.ts";
import { RegistryStorage } from "../../stacks/src/storage.ts";
import { scratchStorage, type ScratchStorage } from "./support/backends.ts";

// The upload sweep's IAM grant (stacks/src/storage.ts grantSweepAccess) against what the sweep
// really sends: sessions in every staging state expire, the sweep runs, and each request it made
// (command, key or index) must be allowed by the grant, and each granted action used. An action
// missing from the grant would fail only on AWS (emulators check no IAM), so it is checked here.

const MiB = 1024 * 1024;
const TTL_SECONDS = 3600;

/** S3 commands and DynamoDB operations as IAM names them; a transaction is authorized per item. */
const S3_ACTION: Record<string, string> = {
  ListMultipartUploads: "s3:ListBucketMultipartUploads",
  ListObjectsV2: "s3:ListBucket",
  AbortMultipartUpload: "s3:AbortMultipartUpload",
  DeleteObject: "s3:DeleteObject",
  GetObjectTagging: "s3:GetObjectTagging",
};
const TRANSACT_ACTION: Record<string, string> = { Put: "dynamodb:PutItem", Update: "dynamodb:UpdateItem", Delete: "dynamodb:DeleteItem", ConditionCheck: "dynamodb:ConditionCheckItem" };

interface Needed {
  action: string;
  /** "bucket", "object:<key>", "table" or "index:<name>". */
  resource: string;
}

describe("the upload sweep's grant", () => {
  let scratch: ScratchStorage | undefined;
  let bucket: string;
  let table: string;
  let storage: AwsStorage;
  let registry: Registry;
  let now = Date.now();
  let recording = false;
  const needed: Needed[] = [];

  beforeAll(async () => {
    scratch = await scratchStorage("stratus-sweep-iam");
    ({ bucket, table } = scratch);
    const b = scratch.backends;
    const { s3, dynamo } = scratch.clients();
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (recording) {
          const command = String(context.commandName).replace(/Command$/, "");
          const input = args.input as { Key?: string };
          needed.push({ action: S3_ACTION[command] ?? `s3:? ${command}`, resource: input.Key !== undefined ? `object:${input.Key}` : "bucket" });
        }
        return next(args);
      },
      { step: "initialize", name: "sweep-iam-recorder" },
    );
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        if (recording) {
          const operation = String(context.commandName).replace(/Command$/, "");
          const input = args.input as { IndexName?: string; TransactItems?: Record<string, unknown>[] };
          if (operation === "TransactWriteItems") {
            for (const item of input.TransactItems ?? []) for (const kind of Object.keys(item)) needed.push({ action: TRANSACT_ACTION[kind] ?? `dynamodb:? ${kind}`, resource: "table" });
          } else {
            needed.push({ action: `dynamodb:${operation}`, resource: input.IndexName ? `index:${input.IndexName}` : "table" });
          }
        }
        return next(args);
      },
      { step: "initialize", name: "sweep-iam-recorder" },
    );
    storage = openAwsStorage({ bucket, table, region: b.region, presignSeconds: 900, uploadTtlSeconds: TTL_SECONDS, s3Client: s3, dynamoClient: dynamo });
    // As packages/lambda builds it (the sweep runs the registry function's code with its own role).
    registry = createRegistry(
      { blobs: storage.blobs, metadata: storage.metadata, authorizer: new OpenOnLoopbackAuthorizer({ allowRemote: true }), clock: { now: () => now } },
      { uploadTtlSeconds: TTL_SECONDS, resumableHashing: true, chunkMinLength: S3_MIN_PART_SIZE },
    );
  });

  afterAll(async () => {
    storage?.close();
    await scratch?.remove();
  });

  const send = (method: string, path: string, body?: Uint8Array) =>
    registry.handle(
      new Request(new URL(path, "http://registry.test"), {
        method,
        ...(body ? { body: body as Uint8Array<ArrayBuffer>, headers: { "content-length": String(body.byteLength), "content-type": "application/octet-stream" } } : {}),
      }),
      { remoteAddress: "127.0.0.1" },
    );

  /** An upload session with these PATCHes sent, left idle. */
  async function session(...chunks: number[]): Promise<void> {
    const start = await send("POST", "/v2/team/app/blobs/uploads/");
    expect(start.status).toBe(202);
    let location = start.headers.get("location")!;
    for (const size of chunks) {
      const patch = await send("PATCH", location, new Uint8Array(randomBytes(size)));
      expect(patch.status).toBe(202);
      location = patch.headers.get("location")!;
    }
  }

  /** The sweep's grant as the stack writes it, with ARNs reduced to the names used above. */
  function grant(): { action: string; resources: string[] }[] {
    const stack = new Stack(new App(), "SweepGrant");
    const s = new RegistryStorage(stack, "Storage", { removalPolicy: RemovalPolicy.DESTROY, abortIncompleteUploadsAfterDays: 3, recoveryWindowDays: 7 });
    const role = new iam.Role(stack, "Sweep", { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com") });
    s.grantSweepAccess(role);
    const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: { PolicyDocument?: { Statement: { Action: string | string[]; Resource: unknown }[] } } }> };
    const resource = (r: unknown): string => {
      const json = JSON.stringify(r);
      const suffix = /"([^"]*)"\]\]\}$/.exec(json)?.[1] ?? "";
      if (json.includes("AWS::S3::Bucket") || /StorageBlobs/.test(json)) return suffix.startsWith("/") ? `object:${suffix.slice(1)}` : "bucket";
      return suffix.startsWith("/index/") ? `index:${suffix.slice("/index/".length)}` : "table";
    };
    return Object.values(template.Resources)
      .filter((r) => r.Type === "AWS::IAM::Policy")
      .flatMap((p) => p.Properties.PolicyDocument!.Statement)
      .flatMap((st) => [st.Action].flat().map((action) => ({ action, resources: [st.Resource].flat().map(resource) })));
  }

  const allows = (granted: { action: string; resources: string[] }[], n: Needed) =>
    granted.some((g) => g.action === n.action && g.resources.some((r) => (r.startsWith("object:") && n.resource.startsWith("object:") ? new RegExp(`^object:${r.slice(7).replaceAll("*", ".*")}$`).test(n.resource) : r === n.resource)));

  it("allows every request the sweep makes, and grants nothing it does not use", async () => {
    await session(); // nothing staged
    await session(1 * MiB); // a tail only
    await session(1 * MiB, 1 * MiB); // a tail replaced once
    await session(12 * MiB); // a multipart upload with one part, and a tail
    now += (TTL_SECONDS + 60) * 1000;
    recording = true;
    expect(await registry.expireUploads()).toBe(4);
    recording = false;

    const granted = grant();
    const refused = needed.filter((n) => !allows(granted, n));
    expect(refused).toEqual([]);
    expect(needed.map((n) => n.action)).toContain("s3:AbortMultipartUpload");
    expect(needed).toContainEqual({ action: "dynamodb:Query", resource: `index:${IDLE_INDEX.name}` });
    expect([...new Set(granted.map((g) => g.action))].sort()).toEqual([...new Set(needed.map((n) => n.action))].sort());
  });
});
