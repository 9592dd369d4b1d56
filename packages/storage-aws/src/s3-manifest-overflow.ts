import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ManifestOverflow } from "./manifest-overflow.ts";
import { isNotFound, s3Call } from "./s3-client.ts";

// Large manifests of the DynamoDB metadata store, as S3 objects under a prefix (DESIGN.md "AWS facts":
// items stop at 400 KB, manifests may reach 4 MiB). Build the client with createS3Client (checksums only
// when required, path-style for custom endpoints); bodies are byte arrays sent with a Content-Length.

export interface S3ManifestOverflowOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix; default "manifests/". */
  prefix?: string;
}

export class S3ManifestOverflow implements ManifestOverflow {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3ManifestOverflowOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? "manifests/";
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await s3Call("put manifest object", () =>
      this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + key,
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: "application/octet-stream",
      })),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return s3Call("get manifest object", async () => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a key that is not there: idempotent as it is.
    await s3Call("delete manifest object", () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key })));
  }
}
