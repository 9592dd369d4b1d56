import type { BlobRecord, Digest, QuotaExceeded, QuotaOutcome, RepositoryName, TenantId, TenantLimits, UploadId } from "@stratus/core";
import type { DynamoContext } from "./dynamo-context.ts";
import type { Item, TransactItem } from "./dynamo-io.ts";
import { blobKey, linkKey, repositoryKey, uploadKey, usageKey } from "./dynamo-keys.ts";
import { createRepositoryItems, linkedVersionUpdate, quotaRefusal, usageRead, usageUpdate } from "./dynamo-repositories.ts";
import { countedSize, deleteUpload, uploadDelete } from "./dynamo-uploads.ts";

// Blobs of a tenant and their links to repositories.
//
// The tenant's blob item ("T#<tenant>", "B#<digest>") counts its links; a link item
// ("R#<repository>", "L#<digest>") carries a copy of the blob record, which never changes once
// written, so a blob HEAD or GET is one GetItem. Each operation reads the items it depends on
// (one BatchGetItem), then writes a transaction whose conditions say "still as I read it"; when a
// racer got there first a condition fails and the operation reads again (DynamoIo.retrying).
// Under limits the read includes the tenant's usage item, and the refusal is decided on it before
// anything is written (dynamo-repositories.ts: quotas).

const EXISTS = "attribute_exists(PK)";
const NOT_EXISTS = "attribute_not_exists(PK)";
// Expressions name every attribute through an alias: SIZE, TTL and hundreds more are reserved words.
const LINKS = { "#links": "links" };

interface BlobItem extends Item {
  digest: string;
  size: number;
  location?: string;
  links: number;
}

export async function findBlob(ctx: DynamoContext, tenant: TenantId, digest: Digest): Promise<BlobRecord | undefined> {
  return toBlob(await ctx.io.get("find blob", blobKey(tenant, digest)));
}

export async function findLinkedBlob(ctx: DynamoContext, repository: RepositoryName, digest: Digest): Promise<BlobRecord | undefined> {
  return toBlob(await ctx.io.get("find blob", linkKey(repository, digest)));
}

type Linked = { ok: true; blob: BlobRecord } | QuotaExceeded | undefined;

/**
 * Records the blob unless the tenant has it, links it to the repository, creates the repository.
 * With `upload`, the session whose bytes became the blob goes in the same transaction, its staged
 * bytes counted out as the blob's are counted in.
 */
export async function commitBlob(
  ctx: DynamoContext, tenant: TenantId, repository: RepositoryName, blob: BlobRecord, limits?: TenantLimits, upload?: UploadId,
): Promise<QuotaOutcome> {
  const outcome = await link(ctx, "commit blob", tenant, repository, blob.digest, blob, limits, upload);
  return outcome?.ok === false ? outcome : { ok: true };
}

export async function linkBlob(ctx: DynamoContext, tenant: TenantId, repository: RepositoryName, digest: Digest, limits?: TenantLimits): Promise<Linked> {
  return link(ctx, "link blob", tenant, repository, digest, undefined, limits);
}

/** `fresh`: the record to create when the tenant has no such blob (commit); without it, no blob means undefined (mount). */
async function link(
  ctx: DynamoContext, what: string, tenant: TenantId, repository: RepositoryName, digest: Digest, fresh: BlobRecord | undefined,
  limits: TenantLimits | undefined, upload?: UploadId,
): Promise<Linked> {
  return ctx.io.retrying(what, async (): Promise<Linked> => {
    const keys = [blobKey(tenant, digest), linkKey(repository, digest), repositoryKey(repository)];
    const [stored, linked, repo, ...more] = await ctx.io.getMany(what, [
      ...keys, ...(limits ? [usageKey(tenant)] : []), ...(upload ? [uploadKey(upload)] : []),
    ]);
    const usage = limits ? more[0] : undefined;
    const own = upload ? more[limits ? 1 : 0] : undefined;
    const existing = toBlob(stored);
    if (linked) {
      // Already linked (a link implies its blob: they come and go together): nothing to do but end the session.
      if (own) await deleteUpload(ctx, upload!);
      return { ok: true, blob: existing ?? toBlob(linked)! };
    }
    const record = existing ?? fresh;
    if (!record) return undefined;
    // A blob the tenant has adds no bytes, so is never refused for them. The committing session's
    // staged bytes leave the count as the blob's enter it (counted sessions only: dynamo-uploads.ts).
    const ownStaged = own ? countedSize(own) : 0;
    const delta = {
      repositories: repo ? 0 : 1,
      storedBytes: existing ? 0 : record.size,
      ...(own && ownStaged !== undefined ? { uploadSessions: -1, stagedBytes: -ownStaged } : {}),
    };
    const read = usageRead(usage);
    const refused = limits && quotaRefusal(limits, read, delta);
    if (refused) return refused;

    const items: TransactItem[] = [];
    if (existing) {
      // The blob must still exist when the link lands: an Update would otherwise create a bare counter.
      items.push({
        Update: {
          TableName: ctx.table, Key: blobKey(tenant, digest), UpdateExpression: "ADD #links :one",
          ConditionExpression: EXISTS, ExpressionAttributeNames: LINKS, ExpressionAttributeValues: { ":one": 1 },
        },
      });
    } else {
      items.push({ Put: { TableName: ctx.table, Item: { ...blobKey(tenant, digest), ...blobAttributes(record), links: 1 }, ConditionExpression: NOT_EXISTS } });
    }
    items.push({ Put: { TableName: ctx.table, Item: { ...linkKey(repository, digest), ...blobAttributes(record) }, ConditionExpression: NOT_EXISTS } });
    // A new link in an existing repository moves the marker's version (repository deletion is conditional on it).
    items.push(...(repo ? [linkedVersionUpdate(ctx, repository)] : createRepositoryItems(ctx, tenant, repository)));
    if (own) items.push(uploadDelete(ctx, own));
    const usageChange = usageUpdate(ctx, tenant, delta, limits, read);
    if (usageChange) items.push(usageChange);
    await ctx.io.transact(what, items);
    return { ok: true, blob: record };
  });
}

/** Removes the link; the last link takes the blob record with it, in the same transaction. */
export async function unlinkBlob(
  ctx: DynamoContext, tenant: TenantId, repository: RepositoryName, digest: Digest,
): Promise<{ unlinked: boolean; orphan?: BlobRecord }> {
  const what = "unlink blob";
  return ctx.io.retrying(what, async () => {
    const [linked, stored] = await ctx.io.getMany(what, [linkKey(repository, digest), blobKey(tenant, digest)]);
    if (!linked) return { unlinked: false };
    const items: TransactItem[] = [{ Delete: { TableName: ctx.table, Key: linkKey(repository, digest), ConditionExpression: EXISTS } }];
    const blob = stored as BlobItem | undefined;
    const last = blob !== undefined && blob.links <= 1;
    if (blob) {
      // Conditional on the count read: a concurrent link or unlink makes this attempt read again.
      const counted = { ConditionExpression: "#links = :n", ExpressionAttributeNames: LINKS, ExpressionAttributeValues: { ":n": blob.links } };
      if (last) {
        items.push({ Delete: { TableName: ctx.table, Key: blobKey(tenant, digest), ...counted } });
        const usage = usageUpdate(ctx, tenant, { repositories: 0, storedBytes: -blob.size });
        if (usage) items.push(usage);
      } else {
        items.push({
          Update: {
            TableName: ctx.table, Key: blobKey(tenant, digest), UpdateExpression: "ADD #links :minus",
            ConditionExpression: counted.ConditionExpression, ExpressionAttributeNames: LINKS, ExpressionAttributeValues: { ...counted.ExpressionAttributeValues, ":minus": -1 },
          },
        });
      }
    }
    await ctx.io.transact(what, items);
    return last ? { unlinked: true, orphan: toBlob(blob)! } : { unlinked: true };
  });
}

function blobAttributes(blob: BlobRecord): Record<string, unknown> {
  return { digest: blob.digest, size: blob.size, ...(blob.location !== undefined ? { location: blob.location } : {}) };
}

function toBlob(item: Item | undefined): BlobRecord | undefined {
  if (!item) return undefined;
  const { digest, size, location } = item as BlobItem;
  return { digest: digest as Digest, size: Number(size), ...(location !== undefined ? { location } : {}) };
}
