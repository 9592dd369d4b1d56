import { describe, expect, it } from "vitest";
import { RegistryError } from "../src/errors.ts";
import { parseManifest } from "../src/oci/manifest-schema.ts";
import { MediaType } from "../src/oci/media-types.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const encode = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const image = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("a"), size: 10 },
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("b"), size: 20 }],
};

function reason(bytes: Uint8Array, contentType: string | null): string {
  try {
    parseManifest(bytes, contentType);
  } catch (e) {
    if (e instanceof RegistryError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "accepted";
}

describe("parseManifest", () => {
  it("extracts blobs, artifact type and subject of an image manifest", () => {
    const parsed = parseManifest(encode({ ...image, subject: { mediaType: MediaType.ociManifest, digest: d("c"), size: 5 } }), MediaType.ociManifest);
    expect(parsed.kind).toBe("image");
    expect(parsed.blobs.map((b) => b.digest)).toEqual([d("a"), d("b")]);
    expect(parsed.subject?.digest).toBe(d("c"));
    expect(parsed.artifactType).toBe("application/vnd.oci.image.config.v1+json");
  });

  it("takes the children of an index and keeps platform fields", () => {
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: d("e"), size: 3, platform: { os: "linux", architecture: "arm64" } }] };
    const parsed = parseManifest(encode(index), MediaType.ociIndex);
    expect(parsed.kind).toBe("index");
    expect(parsed.manifests).toHaveLength(1);
    expect(parsed.blobs).toEqual([]);
  });

  it("accepts Docker schema 2 manifests and manifest lists", () => {
    const docker = { ...image, mediaType: MediaType.dockerManifest };
    expect(parseManifest(encode(docker), MediaType.dockerManifest).kind).toBe("image");
    const list = { schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [] };
    expect(parseManifest(encode(list), MediaType.dockerManifestList).kind).toBe("index");
  });

  it("infers the type from the body when Content-Type is generic and mediaType absent", () => {
    const { mediaType: _, ...bare } = image;
    expect(parseManifest(encode(bare), "application/json").mediaType).toBe(MediaType.ociManifest);
    expect(parseManifest(encode({ schemaVersion: 2, manifests: [] }), null).mediaType).toBe(MediaType.ociIndex);
  });

  it("prefers artifactType over the config media type", () => {
    const artifact = { ...image, artifactType: "application/vnd.example.sbom" };
    expect(parseManifest(encode(artifact), MediaType.ociManifest).artifactType).toBe("application/vnd.example.sbom");
  });

  it.each([
    ["not JSON", "{", MediaType.ociManifest, /not valid UTF-8 JSON/],
    ["a JSON array", "[]", MediaType.ociManifest, /JSON object/],
    ["schema 1 by version", { schemaVersion: 1, name: "x", tag: "y", fsLayers: [] }, "application/json", /schema 1/],
    ["schema 1 by type", { ...image, mediaType: undefined }, MediaType.dockerSchema1Signed, /schema 1/],
    ["a missing config", { ...image, config: undefined }, MediaType.ociManifest, /config/],
    ["a negative size", { ...image, layers: [{ ...image.layers[0], size: -1 }] }, MediaType.ociManifest, /layers\.0\.size/],
    ["a bad descriptor digest", { ...image, layers: [{ ...image.layers[0], digest: "sha256:xyz" }] }, MediaType.ociManifest, /digest/],
    ["a Content-Type that contradicts mediaType", image, MediaType.dockerManifest, /Content-Type is/],
    ["an unknown media type", { ...image, mediaType: "application/x-nope" }, "application/x-nope", /unsupported manifest media type/],
    ["schemaVersion 3", { ...image, schemaVersion: 3 }, MediaType.ociManifest, /schemaVersion/],
  ])("refuses %s with MANIFEST_INVALID and the reason", (_what, body, contentType, message) => {
    const result = reason(encode(body), contentType);
    expect(result).toMatch(/^MANIFEST_INVALID: /);
    expect(result).toMatch(message);
  });

  it("refuses invalid UTF-8", () => {
    expect(reason(new Uint8Array([0x7b, 0xff, 0x7d]), MediaType.ociManifest)).toMatch(/UTF-8/);
  });
});
