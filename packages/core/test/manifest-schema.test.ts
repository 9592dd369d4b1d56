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

describe("parseManifest refuses JSON that Go clients would read differently", () => {
  const text = JSON.stringify(image);
  const layer = JSON.stringify(image.layers[0]);
  const other = JSON.stringify({ ...image.layers[0], digest: d("f") });
  it.each([
    ["a second layers key differing by case", text.replace('"layers":', `"Layers":[${other}],"layers":`), /"Layers".*letter case/],
    ["a lone Subject", text.replace(/}$/, `,"Subject":${layer}}`), /"Subject".*"subject"/],
    ["MediaType", text.replace('"mediaType":"application/vnd.oci.image.manifest.v1+json"', '"MediaType":"application/vnd.oci.image.manifest.v1+json"'), /MediaType/],
    ["Config", text.replace('"config":', '"Config":'), /Config/],
    ["a descriptor's Digest", text.replace(`"layers":[${layer}]`, `"layers":[${layer.replace(/}$/, `,"Digest":"${d("f")}"}`)}]`), /layers\[\]/],
    ["an escaped key (\\u004cayers)", text.replace('"layers":', `"\\u004cayers":[${other}],"layers":`), /letter case/],
    ["the long s (layerſ), which Go folds to s", text.replace('"layers":', `"layer\u017f":[${other}],"layers":`), /letter case/],
    ["the Kelvin sign, which Go folds to k (\u212aind beside kind)", text.replace(/}$/, ',"kind":"a","\u212aind":"b"}'), /letter case/],
    ["an exact duplicate key", text.replace('"layers":', `"layers":[${other}],"layers":`), /appears twice/],
    ["a duplicate annotation key", text.replace(/}$/, ',"annotations":{"a":"1","a":"2"}}'), /appears twice/],
    ["nesting 100 levels deep", text.replace(/}$/, `,"x":${"[".repeat(100)}${"]".repeat(100)}}`), /nests deeper/],
  ])("%s", (_, body, message) => {
    const result = reason(encode(body), MediaType.ociManifest);
    expect(result).toMatch(/^MANIFEST_INVALID/);
    expect(result).toMatch(message);
  });

  it("refuses a UTF-8 byte-order mark", () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...encode(image)]);
    expect(reason(bytes, MediaType.ociManifest)).toMatch(/^MANIFEST_INVALID.*byte-order mark/);
  });

  it("keeps accepting what real manifests hold: annotation keys of any case, unknown fields, platform fields", () => {
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ mediaType: MediaType.ociManifest, digest: d("e"), size: 3, platform: { os: "windows", architecture: "amd64", "os.version": "10.0", "os.features": ["win32k"] } }],
      annotations: { Layers: "x", layers: "y", "org.opencontainers.image.Title": "t" },
      "x-vendor": { nested: { deeper: [1, 2, { ok: true }] } },
    };
    expect(reason(encode(index), MediaType.ociIndex)).toBe("accepted");
    expect(reason(encode({ ...image, annotations: { Digest: "not a field here" } }), MediaType.ociManifest)).toBe("accepted");
  });

  it("scans a 4 MiB bracket bomb without parsing it", () => {
    const bomb = encode(`{"x":${"[".repeat(2 * 1024 * 1024)}`);
    const started = performance.now();
    expect(reason(bomb, null)).toMatch(/nests deeper/);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
