import { parseDigest } from "../oci/digest.ts";
import type { RegistryConfig } from "../config.ts";
import type { BlobService } from "../services/blobs.ts";
import { parseRangeHeader } from "./ranges.ts";
import { emptyResponse, streamResponse } from "./responses.ts";
import type { RouteInput } from "./router.ts";

// distribution-spec end-2 (GET/HEAD blob) and end-10 (DELETE blob).
export function blobHandlers(blobs: BlobService, config: Pick<RegistryConfig, "blobHeadRedirect">) {
  return {
    async head({ params }: RouteInput): Promise<Response> {
      const digest = parseDigest(params.digest!);
      if (config.blobHeadRedirect) {
        // A front that drops a HEAD answer's Content-Length (API Gateway may): the client follows to
        // S3, whose HEAD carries the size (docker, skopeo, containerd follow a 307 on HEAD).
        const url = await blobs.headUrl(params.name!, digest);
        if (url !== undefined) return emptyResponse(307, { location: url, "docker-content-digest": digest });
      }
      const blob = await blobs.stat(params.name!, digest);
      return emptyResponse(200, {
        "content-length": String(blob.size),
        "content-type": "application/octet-stream",
        "docker-content-digest": digest,
        "accept-ranges": "bytes",
        etag: `"${digest}"`,
      });
    },

    async get({ request, params }: RouteInput): Promise<Response> {
      const digest = parseDigest(params.digest!);
      const rangeHeader = request.headers.get("range");
      const { blob, content } = await blobs.open(params.name!, digest, (size) => parseRangeHeader(rangeHeader, size));
      if (content.kind === "redirect") {
        return emptyResponse(307, { location: content.url, "docker-content-digest": digest });
      }
      const common = {
        "content-type": "application/octet-stream",
        "docker-content-digest": digest,
        "accept-ranges": "bytes",
        etag: `"${digest}"`,
      };
      if (content.range) {
        const { start, end } = content.range;
        return streamResponse(206, content.body, {
          ...common,
          "content-length": String(end - start + 1),
          "content-range": `bytes ${start}-${end}/${blob.size}`,
        });
      }
      return streamResponse(200, content.body, { ...common, "content-length": String(blob.size) });
    },

    async delete({ params }: RouteInput): Promise<Response> {
      await blobs.delete(params.name!, parseDigest(params.digest!));
      return emptyResponse(202, { "content-length": "0" });
    },
  };
}
