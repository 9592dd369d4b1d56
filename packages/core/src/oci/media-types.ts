// Media types the registry understands (image-spec media-types.md, Docker image manifest v2.2).
export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export type ManifestKind = "image" | "index";

export const MANIFEST_MEDIA_TYPES: Readonly<Record<string, ManifestKind>> = {
  [MediaType.ociManifest]: "image",
  [MediaType.dockerManifest]: "image",
  [MediaType.ociIndex]: "index",
  [MediaType.dockerManifestList]: "index",
};

// Layers a client fetches from elsewhere (descriptor "urls"): they need not be in the registry.
export const FOREIGN_LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
]);

// image-spec manifest.md "Guidance for an Empty Descriptor": the two-byte blob "{}".
export const EMPTY_BLOB = {
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
  bytes: new TextEncoder().encode("{}"),
} as const;

/** The media type without parameters, lower-cased: "application/json; charset=utf-8" → "application/json". */
export function bareMediaType(value: string | null | undefined): string {
  return (value ?? "").split(";")[0]!.trim().toLowerCase();
}
