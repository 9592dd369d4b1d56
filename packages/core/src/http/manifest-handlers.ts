import type { RegistryConfig } from "../config.ts";
import { RegistryError } from "../errors.ts";
import { parseTag } from "../oci/names.ts";
import { lookupReference, parseReference, type ManifestService } from "../services/manifests.ts";
import { readBodyLimited } from "./body.ts";
import { bytesResponse, emptyResponse } from "./responses.ts";
import type { RouteInput } from "./router.ts";

const MAX_TAGS_PER_PUSH = 20;

// distribution-spec end-3 (GET/HEAD manifest), end-7 (PUT), end-9 (DELETE).
export function manifestHandlers(manifests: ManifestService, config: RegistryConfig) {
  async function fetch({ params }: RouteInput, withBody: boolean): Promise<Response> {
    const manifest = await manifests.get(params.name!, lookupReference(params.name!, params.reference!));
    const headers = {
      "content-type": manifest.mediaType,
      "content-length": String(manifest.bytes.length),
      "docker-content-digest": manifest.digest,
      etag: `"${manifest.digest}"`,
    };
    return bytesResponse(200, withBody ? manifest.bytes : null, headers);
  }

  return {
    head: (input: RouteInput) => fetch(input, false),
    get: (input: RouteInput) => fetch(input, true),

    async put({ request, url, params }: RouteInput): Promise<Response> {
      const name = params.name!;
      const reference = parseReference(params.reference!);
      // Extra tags in one request (distribution-spec v1.1.1 "?tag=" on a push by digest).
      const tagParams = url.searchParams.getAll("tag");
      // Bounded so one push stays one atomic write on every store (DynamoDB: 100 items per transaction).
      if (tagParams.length > MAX_TAGS_PER_PUSH) {
        throw new RegistryError("MANIFEST_INVALID", `at most ${MAX_TAGS_PER_PUSH} tag parameters per push; got ${tagParams.length}`, {
          tags: tagParams.length,
        });
      }
      const extraTags = tagParams.map(parseTag);
      const bytes = await readBodyLimited(request, config.maxManifestBytes, "manifest");
      const pushed = await manifests.put(name, reference, bytes, request.headers.get("content-type"), extraTags);
      return emptyResponse(201, {
        location: `/v2/${name}/manifests/${pushed.digest}`,
        "docker-content-digest": pushed.digest,
        "content-length": "0",
        ...(pushed.subject ? { "oci-subject": pushed.subject } : {}),
      });
    },

    async delete({ params }: RouteInput): Promise<Response> {
      await manifests.delete(params.name!, lookupReference(params.name!, params.reference!));
      return emptyResponse(202, { "content-length": "0" });
    },
  };
}
