import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

// Builds real OCI image layouts on disk (image-spec image-layout.md) for skopeo and podman to push:
// gzip'd tar layers of random content, a config with matching diff_ids, manifests and an index.
// No network and no image pulls needed.

export interface BuiltImage {
  manifestDigest: string;
  manifest: Uint8Array;
  layerDigests: string[];
}

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A ustar archive holding one regular file. */
export function tarWithFile(name: string, content: Uint8Array): Uint8Array {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, "utf8");
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(content.length.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write("0", 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

async function writeBlob(dir: string, bytes: Uint8Array): Promise<string> {
  const digest = sha(bytes);
  await writeFile(join(dir, "blobs", "sha256", digest.slice(7)), bytes);
  return digest;
}

/** Writes one image (config + layers of the given sizes) into the layout; returns its manifest. */
export async function writeImage(dir: string, layerSizes: number[], platform = { architecture: "amd64", os: "linux" }): Promise<BuiltImage> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const layers: { digest: string; size: number; diffId: string }[] = [];
  for (const [i, size] of layerSizes.entries()) {
    // Random bytes do not compress, so the pushed layer is about `size` bytes.
    const tar = tarWithFile(`layer${i}.bin`, randomBytes(size));
    const gz = gzipSync(tar, { level: 1 });
    layers.push({ digest: await writeBlob(dir, gz), size: gz.length, diffId: sha(tar) });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      config: { Cmd: ["/layer0.bin"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created_by: "stratus test fixture" })),
    }),
  );
  const configDigest = await writeBlob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size })),
    }),
  );
  return { manifestDigest: await writeBlob(dir, manifest), manifest, layerDigests: layers.map((l) => l.digest) };
}

async function writeIndex(dir: string, entries: { mediaType: string; digest: string; size: number; tag?: string; platform?: object }[]) {
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: entries.map((e) => ({
      mediaType: e.mediaType,
      digest: e.digest,
      size: e.size,
      ...(e.platform ? { platform: e.platform } : {}),
      ...(e.tag ? { annotations: { "org.opencontainers.image.ref.name": e.tag } } : {}),
    })),
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
}

/** An OCI layout holding one single-platform image under `tag`. */
export async function buildImageLayout(dir: string, tag: string, layerSizes: number[]): Promise<BuiltImage> {
  const image = await writeImage(dir, layerSizes);
  await writeIndex(dir, [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.manifestDigest, size: image.manifest.length, tag }]);
  return image;
}

/** An OCI layout holding a multi-arch index (amd64 + arm64) under `tag`. */
export async function buildIndexLayout(dir: string, tag: string, layerSizes: number[]): Promise<{ indexDigest: string; images: BuiltImage[] }> {
  const platforms = [
    { architecture: "amd64", os: "linux" },
    { architecture: "arm64", os: "linux", variant: "v8" },
  ];
  const images: BuiltImage[] = [];
  for (const p of platforms) images.push(await writeImage(dir, layerSizes, p));
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: images.map((img, i) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: img.manifestDigest,
        size: img.manifest.length,
        platform: platforms[i],
      })),
    }),
  );
  const indexDigest = await writeBlob(dir, index);
  await writeIndex(dir, [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: indexDigest, size: index.length, tag }]);
  return { indexDigest, images };
}
