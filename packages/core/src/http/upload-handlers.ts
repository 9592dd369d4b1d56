import type { RegistryConfig } from "../config.ts";
import { RegistryError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { parseRepositoryName, tryParseRepositoryName, type RepositoryName } from "../oci/names.ts";
import type { Authorizer, BlobRecord, RequestContext, UploadSession } from "../ports.ts";
import type { Chunk, UploadService } from "../services/uploads.ts";
import { bodyChunks, contentLength, hasBody } from "./body.ts";
import { parseContentRange } from "./ranges.ts";
import { emptyResponse } from "./responses.ts";
import type { RouteInput } from "./router.ts";

// distribution-spec end-4a/4b (POST), end-5 (PATCH), end-6 (PUT), end-11 (mount), end-13 (GET status), DELETE of a session.

function chunkOf(request: Request): Chunk {
  const declaredLength = contentLength(request);
  const range = parseContentRange(request.headers.get("content-range"));
  return { source: bodyChunks(request), ...(range ? { range } : {}), ...(declaredLength !== undefined ? { declaredLength } : {}) };
}

function digestParam(url: URL): ReturnType<typeof parseDigest> {
  const value = url.searchParams.get("digest");
  if (value === null) throw new RegistryError("DIGEST_INVALID", "the digest query parameter is required to complete an upload", null);
  return parseDigest(value);
}

function created(name: RepositoryName, blob: BlobRecord): Response {
  return emptyResponse(201, {
    location: `/v2/${name}/blobs/${blob.digest}`,
    "docker-content-digest": blob.digest,
    "content-length": "0",
  });
}

/** A mount's source repository, which the caller must be able to pull: named in the POST's challenge. */
export function mountSource(url: URL): { repository: RepositoryName; actions: ["pull"] }[] {
  const from = url.searchParams.get("from");
  if (url.searchParams.get("mount") === null || from === null) return [];
  const repository = tryParseRepositoryName(from);
  return repository ? [{ repository, actions: ["pull"] }] : [];
}

export function uploadHandlers(uploads: UploadService, authorizer: Authorizer, config: RegistryConfig, contextOf: (request: Request) => RequestContext) {
  const accepted = (session: UploadSession, status: 202 | 204) =>
    emptyResponse(status, {
      ...uploads.sessionHeaders(session),
      "content-length": "0",
      "oci-chunk-min-length": String(config.chunkMinLength),
    });

  return {
    async start({ request, url, params }: RouteInput): Promise<Response> {
      const name = params.name!;
      const mount = url.searchParams.get("mount");
      if (mount !== null) {
        const digest = parseDigest(mount, "mount digest");
        const fromValue = url.searchParams.get("from");
        const from = fromValue === null ? undefined : parseRepositoryName(fromValue);
        // Mounting reads the source repository: the caller must be allowed to pull there. If not, fall back
        // to a session as the spec says, without revealing whether the blob exists.
        const mayRead =
          from === undefined ||
          (await authorizer.authorize(request, { kind: "repository", repository: from, actions: ["pull"] }, contextOf(request))).allowed;
        const mounted = mayRead ? await uploads.mount(name, digest, from) : undefined;
        if (mounted) return created(name, mounted);
        return accepted(await uploads.start(name), 202);
      }
      const digest = url.searchParams.get("digest");
      if (digest !== null) {
        const blob = await uploads.putWhole(name, parseDigest(digest), chunkOf(request));
        return created(name, blob);
      }
      await request.body?.cancel().catch(() => {});
      return accepted(await uploads.start(name), 202);
    },

    async append({ request, params }: RouteInput): Promise<Response> {
      const session = await uploads.get(params.name!, params.id!);
      return accepted(await uploads.append(session, chunkOf(request)), 202);
    },

    async finish({ request, url, params }: RouteInput): Promise<Response> {
      const session = await uploads.get(params.name!, params.id!);
      const digest = digestParam(url);
      const blob = await uploads.finish(session, digest, hasBody(request) ? chunkOf(request) : undefined);
      return created(params.name!, blob);
    },

    async status({ params }: RouteInput): Promise<Response> {
      return accepted(await uploads.get(params.name!, params.id!), 204);
    },

    async cancel({ params }: RouteInput): Promise<Response> {
      await uploads.cancel(await uploads.get(params.name!, params.id!));
      return emptyResponse(204, { "content-length": "0" });
    },
  };
}
