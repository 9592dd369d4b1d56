import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { RunningServer } from "@stratus/server";
import { afterAll, beforeAll, expect, test } from "vitest";
import { layoutBlobs, layoutRef, sha256 } from "../clients/server.ts";
import { describeWithTools, isolatedToolEnv, run, type ToolEnv } from "../clients/tools.ts";
import { buildImageLayout, buildIndexLayout, type BuiltImage } from "../support/oci-layout.ts";
import { startAwsServer } from "./support/aws-server.ts";

// skopeo through the Node server running on the AWS adapters (S3 on radosgw, DynamoDB Local):
// a multi-layer image with a multipart-sized layer, and a multi-arch index, in and back out.
// Pulls follow the 307 to presigned radosgw URLs.

const MiB = 1024 * 1024;

describeWithTools(["skopeo"], "skopeo against the registry on S3 and DynamoDB", () => {
  let server: RunningServer;
  let tools: ToolEnv;
  let image: BuiltImage;
  let multi: { indexDigest: string; images: BuiltImage[] };

  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 180_000);
  const ref = (repoAndTag: string) => `docker://${new URL(server.url).host}/${repoAndTag}`;

  beforeAll(async () => {
    server = await startAwsServer();
    tools = await isolatedToolEnv("stratus-aws-skopeo-");
    // Layers from one byte-range part to several 8 MiB parts (S3 multipart with a tail).
    image = await buildImageLayout(join(tools.dir, "src-image"), "v1", [20 * 1024, 3 * MiB, 19 * MiB]);
    multi = await buildIndexLayout(join(tools.dir, "src-index"), "multi", [150 * 1024, 6 * MiB]);
  });

  afterAll(async () => {
    await server?.close();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  async function expectSameBlobs(out: string, src: string): Promise<void> {
    const pulled = await layoutBlobs(out);
    const original = await layoutBlobs(src);
    expect([...pulled.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [digest, blob] of pulled) expect(blob.contentDigest).toBe(digest);
  }

  test("pushes a multi-layer image and pulls it back byte for byte", async () => {
    const src = join(tools.dir, "src-image");
    await skopeo("copy", "--dest-tls-verify=false", `oci:${src}:v1`, ref("stratus/app:v1"));
    const raw = await skopeo("inspect", "--tls-verify=false", "--raw", ref("stratus/app:v1"));
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);

    const out = join(tools.dir, "out-image");
    await skopeo("copy", "--src-tls-verify=false", ref("stratus/app:v1"), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    await expectSameBlobs(out, src);
  });

  test("pushes a multi-arch index with --all and pulls every platform back", async () => {
    const src = join(tools.dir, "src-index");
    await skopeo("copy", "--all", "--dest-tls-verify=false", `oci:${src}:multi`, ref("stratus/multi:m"));
    const out = join(tools.dir, "out-index");
    await skopeo("copy", "--all", "--src-tls-verify=false", ref("stratus/multi:m"), `oci:${out}:m`);
    expect((await layoutRef(out, "m")).digest).toBe(multi.indexDigest);
    await expectSameBlobs(out, src);
  });
});
