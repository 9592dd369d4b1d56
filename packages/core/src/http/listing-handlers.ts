import type { RegistryConfig } from "../config.ts";
import { RegistryError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { MediaType } from "../oci/media-types.ts";
import type { MetadataStore, Page } from "../ports.ts";
import type { CatalogService } from "../services/catalog.ts";
import { nextLink, parsePageRequest } from "./pagination.ts";
import { jsonResponse } from "./responses.ts";
import type { RouteInput } from "./router.ts";

// distribution-spec end-8a/8b (tags list), the _catalog extension, end-12 (referrers).
export function listingHandlers(metadata: MetadataStore, catalogService: CatalogService, config: RegistryConfig) {
  return {
    async tags({ url, params }: RouteInput): Promise<Response> {
      const name = params.name!;
      const page = parsePageRequest(url, config.maxPageSize);
      const result: Page | undefined =
        page.limit === 0
          ? (await metadata.repositoryExists(name)) ? { items: [], more: false } : undefined
          : await metadata.listTags(name, page);
      if (!result) throw new RegistryError("NAME_UNKNOWN", `repository ${name} is not known to the registry`, { name });
      return jsonResponse(200, { name, tags: result.items }, nextLink(`/v2/${name}/tags/list`, result, page.limit));
    },

    async catalog({ url, catalog }: RouteInput): Promise<Response> {
      const page = parsePageRequest(url, config.maxPageSize);
      const result = page.limit === 0 ? { items: [], more: false } : await catalogService.list(page, catalog ?? { kind: "all" });
      return jsonResponse(200, { repositories: result.items }, nextLink("/v2/_catalog", result, page.limit));
    },

    async referrers({ url, params }: RouteInput): Promise<Response> {
      const subject = parseDigest(params.digest!);
      const artifactType = url.searchParams.get("artifactType");
      const all = await metadata.listReferrers(params.name!, subject);
      const selected = artifactType === null ? all : all.filter((r) => r.artifactType === artifactType);
      const manifests = selected.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: r.annotations } : {}),
      }));
      return jsonResponse(
        200,
        { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests },
        { "content-type": MediaType.ociIndex, ...(artifactType !== null ? { "oci-filters-applied": "artifactType" } : {}) },
      );
    },
  };
}
