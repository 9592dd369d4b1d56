import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { buildImageLayout, buildIndexLayout, type BuiltImage } from "../support/oci-layout.ts";
import { layoutBlobs, layoutRef, sha256, startRecordingServer, type RecordingServer } from "./server.ts";
import { describeWithTools, isolatedToolEnv, run, ToolError, type ToolEnv } from "./tools.ts";

// skopeo against the local server: push an image and a multi-arch index from OCI layouts, pull them back
// out, copy between repositories (cross-repo mount), list tags, delete. Anonymous, plain HTTP.

const MiB = 1024 * 1024;

describeWithTools(["skopeo"], "skopeo against the local registry", () => {
  let server: RecordingServer;
  let tools: ToolEnv;
  let image: BuiltImage;
  let multi: { indexDigest: string; images: BuiltImage[] };
  let srcImage: string;
  let srcIndex: string;

  const skopeo = (...args: string[]) => run("skopeo", ["--insecure-policy", ...args], tools.env, 120_000);
  const ref = (repoAndTag: string) => `docker://${server.host}/${repoAndTag}`;
  const inspectRaw = (repoAndTag: string) => skopeo("inspect", "--tls-verify=false", "--raw", ref(repoAndTag));
  const inspectDigest = async (repoAndTag: string, ...flags: string[]) =>
    (await skopeo(...flags, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", ref(repoAndTag))).trim();

  beforeAll(async () => {
    server = await startRecordingServer();
    tools = await isolatedToolEnv("stratus-skopeo-");
    srcImage = join(tools.dir, "src-image");
    srcIndex = join(tools.dir, "src-index");
    // 4 layers, about 10.5 MB, one above 8 MiB.
    image = await buildImageLayout(srcImage, "v1", [64 * 1024, 1 * MiB, 9 * MiB, 300 * 1024]);
    multi = await buildIndexLayout(srcIndex, "multi", [200 * 1024, 40 * 1024]);
  });

  afterAll(async () => {
    await server?.stop();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("pushes a 4-layer image and pulls it back byte for byte", async () => {
    await skopeo("copy", "--dest-tls-verify=false", `oci:${srcImage}:v1`, ref("stratus/app:v1"));

    const raw = await inspectRaw("stratus/app:v1");
    expect(raw).toBe(Buffer.from(image.manifest).toString("utf8"));
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);
    expect(await inspectDigest("stratus/app:v1")).toBe(image.manifestDigest);

    // skopeo sends each blob as POST, one PATCH with a Content-Length, PUT ?digest=.
    const patches = server.requests.filter((r) => r.method === "PATCH" && r.path.startsWith("/v2/stratus/app/blobs/uploads/"));
    expect(patches.length).toBeGreaterThanOrEqual(image.layerDigests.length);
    expect(patches.every((r) => r.status === 202)).toBe(true);

    const out = join(tools.dir, "out-image");
    await skopeo("copy", "--src-tls-verify=false", ref("stratus/app:v1"), `oci:${out}:v1`);
    expect((await layoutRef(out, "v1")).digest).toBe(image.manifestDigest);
    const pulled = await layoutBlobs(out);
    const original = await layoutBlobs(srcImage);
    expect([...pulled.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [digest, blob] of pulled) {
      expect(blob.contentDigest, `content of ${digest}`).toBe(digest);
      expect(blob.size).toBe(original.get(digest)!.size);
    }
    expect(Math.max(...[...pulled.values()].map((b) => b.size))).toBeGreaterThanOrEqual(8 * MiB);
  });

  test("pushes a multi-arch index with --all and pulls every platform back", async () => {
    await skopeo("copy", "--all", "--dest-tls-verify=false", `oci:${srcIndex}:multi`, ref("stratus/multi:multi"));

    const raw = await inspectRaw("stratus/multi:multi");
    expect(sha256(Buffer.from(raw))).toBe(multi.indexDigest);
    expect(await inspectDigest("stratus/multi:multi")).toBe(multi.indexDigest);
    for (const child of multi.images) {
      expect(await inspectRaw(`stratus/multi@${child.manifestDigest}`)).toBe(Buffer.from(child.manifest).toString("utf8"));
    }
    // Resolving the index for another platform goes through the child manifest and its config.
    const arm = JSON.parse(
      await skopeo("--override-arch", "arm64", "--override-variant", "v8", "inspect", "--tls-verify=false", ref("stratus/multi:multi")),
    ) as { Architecture: string; Layers: string[] };
    expect(arm.Architecture).toBe("arm64");
    expect(arm.Layers).toEqual(multi.images[1]!.layerDigests);

    const out = join(tools.dir, "out-index");
    await skopeo("copy", "--all", "--src-tls-verify=false", ref("stratus/multi:multi"), `oci:${out}:multi`);
    expect((await layoutRef(out, "multi")).digest).toBe(multi.indexDigest);
    const pulled = await layoutBlobs(out);
    const original = await layoutBlobs(srcIndex);
    expect([...pulled.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [digest, blob] of pulled) expect(blob.contentDigest, `content of ${digest}`).toBe(digest);
  });

  test("copies between two repositories by mounting the blobs", async () => {
    const before = server.requests.length;
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref("stratus/app:v1"), ref("stratus/copy:v2"));
    const seen = server.requests.slice(before);

    const mounts = seen.filter((r) => r.method === "POST" && r.path === "/v2/stratus/copy/blobs/uploads/" && r.query.has("mount"));
    const mounted = mounts.filter((r) => r.status === 201 && r.query.get("from") === "stratus/app").map((r) => r.query.get("mount"));
    // Every layer is mounted from stratus/app, none uploaded again.
    for (const layer of image.layerDigests) expect(mounted).toContain(layer);
    // Only the config is sent again (containers/image always uploads configs, it never mounts them).
    const configDigest = (JSON.parse(Buffer.from(image.manifest).toString("utf8")) as { config: { digest: string } }).config.digest;
    const uploaded = seen.filter((r) => r.method === "PUT" && r.path.startsWith("/v2/stratus/copy/blobs/uploads/")).map((r) => r.query.get("digest"));
    expect(uploaded.filter((d) => d !== configDigest)).toEqual([]);

    expect(await inspectDigest("stratus/copy:v2")).toBe(image.manifestDigest);
    const out = join(tools.dir, "out-copy");
    await skopeo("copy", "--src-tls-verify=false", ref("stratus/copy:v2"), `oci:${out}:v2`);
    for (const [digest, blob] of await layoutBlobs(out)) expect(blob.contentDigest, `content of ${digest}`).toBe(digest);
  });

  test("lists tags", async () => {
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref("stratus/app:v1"), ref("stratus/app:latest"));
    const listed = JSON.parse(await skopeo("list-tags", "--tls-verify=false", ref("stratus/app"))) as { Repository: string; Tags: string[] };
    expect(listed.Repository).toBe(`${server.host}/stratus/app`);
    expect([...listed.Tags].sort()).toEqual(["latest", "v1"]);
  });

  test("deletes an image by tag (skopeo resolves it and deletes the digest)", async () => {
    await skopeo("delete", "--tls-verify=false", ref("stratus/copy:v2"));
    const deleted = server.requests.filter((r) => r.method === "DELETE" && r.path === `/v2/stratus/copy/manifests/${image.manifestDigest}`);
    expect(deleted.map((r) => r.status)).toEqual([202]);

    const gone = await inspectRaw("stratus/copy:v2").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(gone).toBeInstanceOf(ToolError);
    expect((gone as ToolError).stderr).toMatch(/manifest unknown/i);

    const byDigest = await fetch(`${server.running.url}/v2/stratus/copy/manifests/${image.manifestDigest}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(byDigest.status).toBe(404);
    // The same manifest in the other repository is untouched.
    expect(await inspectDigest("stratus/app:v1")).toBe(image.manifestDigest);
  });
});
