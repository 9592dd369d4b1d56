import { describe, expect, it } from "vitest";
import { RegistryError } from "../src/errors.ts";
import { blobHandlers } from "../src/http/blob-handlers.ts";
import type { RouteInput } from "../src/http/router.ts";
import type { Digest } from "../src/oci/digest.ts";
import { EMPTY_BLOB } from "../src/oci/media-types.ts";
import type { BlobRecord, BlobStore, MetadataStore, TenantId } from "../src/ports.ts";
import { BlobService } from "../src/services/blobs.ts";
import { KeyedLock } from "../src/services/keyed-lock.ts";

// config blobHeadRedirect: a blob HEAD answers 307 to the store's HEAD URL (a presigned S3 HeadObject),
// for a gateway that drops a HEAD answer's Content-Length (docs/lambda.md "Unsettled gateway behaviours").

const DIGEST = `sha256:${"a".repeat(64)}` as Digest;
const linked: BlobRecord = { digest: DIGEST, size: 1000 };

function handlers(blobHeadRedirect: boolean, store: Partial<BlobStore>) {
  const metadata = { findLinkedBlob: async (_repo: string, digest: Digest) => (digest === DIGEST ? linked : undefined) } as unknown as MetadataStore;
  const service = new BlobService({ blobs: store as BlobStore, metadata, tenantOf: () => "t" as TenantId, blobLock: new KeyedLock() });
  return blobHandlers(service, { blobHeadRedirect });
}
const head = (digest: string) => ({ params: { name: "app", digest } }) as unknown as RouteInput;
const headUrl = async (_tenant: TenantId, blob: BlobRecord) => `https://s3.example/${blob.digest}?X-Amz-Signature=x`;

describe("blob HEAD with blobHeadRedirect", () => {
  it("answers 307 to the store's HEAD URL, with Docker-Content-Digest", async () => {
    const res = await handlers(true, { headUrl }).head(head(DIGEST));
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(`https://s3.example/${DIGEST}?X-Amz-Signature=x`);
    expect(res.headers.get("docker-content-digest")).toBe(DIGEST);
  });

  it("answers 200 with the size when off, or when the store has no HEAD URLs", async () => {
    for (const h of [handlers(false, { headUrl }), handlers(true, {})]) {
      const res = await h.head(head(DIGEST));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-length")).toBe("1000");
    }
  });

  it("refuses a never-uploaded empty descriptor (no object to point at), so clients upload its 2 bytes", async () => {
    await expect(handlers(true, { headUrl }).head(head(EMPTY_BLOB.digest))).rejects.toMatchObject({ code: "BLOB_UNKNOWN" });
    expect((await handlers(false, { headUrl }).head(head(EMPTY_BLOB.digest))).status).toBe(200);
  });

  it("reports a blob whose bytes are gone as unknown", async () => {
    await expect(handlers(true, { headUrl: async () => undefined }).head(head(DIGEST))).rejects.toBeInstanceOf(RegistryError);
  });
});
