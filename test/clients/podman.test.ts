import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { buildImageLayout, type BuiltImage } from "../support/oci-layout.ts";
import { sha256, startRecordingServer, type RecordingServer } from "./server.ts";
import { describeWithTools, isolatedToolEnv, podmanArgs, run, type ToolEnv } from "./tools.ts";

// podman against the local server: load an image from an OCI layout into a private store, push it (podman
// compresses as it goes and sends each layer as one PATCH with Transfer-Encoding: chunked), remove it,
// pull it back, and check the image id (config digest) and manifest digest survive the round trip.

const MiB = 1024 * 1024;

describeWithTools(["podman"], "podman against the local registry", () => {
  let server: RecordingServer;
  let tools: ToolEnv;
  let image: BuiltImage;
  let configDigest: string;
  let pushedDigest: string;
  let layout: string;

  const podman = (...args: string[]) => run("podman", podmanArgs(tools, args), tools.env, 120_000);
  const imageRef = (repoAndTag: string) => `${server.host}/${repoAndTag}`;
  const imageIds = async () =>
    (await podman("images", "--quiet", "--no-trunc")).split("\n").map((l) => l.trim()).filter(Boolean);

  beforeAll(async () => {
    server = await startRecordingServer();
    tools = await isolatedToolEnv("stratus-podman-");
    layout = join(tools.dir, "layout");
    image = await buildImageLayout(layout, "v1", [32 * 1024, 2 * MiB, 500 * 1024]);
    configDigest = (JSON.parse(Buffer.from(image.manifest).toString("utf8")) as { config: { digest: string } }).config.digest;
  });

  afterAll(async () => {
    await server?.stop();
    if (tools) await rm(tools.dir, { recursive: true, force: true });
  });

  test("pushes an image with streamed (chunked) uploads", async () => {
    const loaded = (await podman("pull", "--quiet", `oci:${layout}:v1`)).trim();
    expect(`sha256:${loaded}`).toBe(configDigest);
    await podman("tag", loaded, imageRef("pod/app:v1"));

    const before = server.requests.length;
    const digestFile = join(tools.dir, "pushed-digest");
    await podman("push", "--tls-verify=false", "--digestfile", digestFile, imageRef("pod/app:v1"));
    pushedDigest = (await readFile(digestFile, "utf8")).trim();
    expect(pushedDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const seen = server.requests.slice(before);
    const chunkedPatches = seen.filter(
      (r) => r.method === "PATCH" && r.path.startsWith("/v2/pod/app/blobs/uploads/") && r.headers["transfer-encoding"] === "chunked",
    );
    // podman recompresses the layers from its store: each is streamed with no length known up front.
    expect(chunkedPatches.length).toBeGreaterThanOrEqual(image.layerDigests.length);
    expect(chunkedPatches.every((r) => r.status === 202 && r.headers["content-length"] === undefined)).toBe(true);
    const commits = seen.filter((r) => r.method === "PUT" && r.path.startsWith("/v2/pod/app/blobs/uploads/"));
    expect(commits.length).toBeGreaterThanOrEqual(image.layerDigests.length + 1);
    expect(commits.every((r) => r.status === 201)).toBe(true);

    // The registry serves the manifest podman reported, and every blob it references by its digest.
    const res = await fetch(`${server.running.url}/v2/pod/app/manifests/v1`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
    });
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(res.headers.get("docker-content-digest")).toBe(pushedDigest);
    expect(sha256(bytes)).toBe(pushedDigest);
    const manifest = JSON.parse(Buffer.from(bytes).toString("utf8")) as { config: { digest: string }; layers: { digest: string; size: number }[] };
    expect(manifest.config.digest).toBe(configDigest);
    expect(manifest.layers).toHaveLength(image.layerDigests.length);
    for (const layer of manifest.layers) {
      const blob = await fetch(`${server.running.url}/v2/pod/app/blobs/${layer.digest}`);
      expect(blob.status).toBe(200);
      const content = new Uint8Array(await blob.arrayBuffer());
      expect(content.length).toBe(layer.size);
      expect(sha256(content)).toBe(layer.digest);
    }
  });

  test("removes the local image and pulls it back with the same id and digest", async () => {
    expect(pushedDigest).toBeDefined();
    await podman("rmi", "--all", "--force");
    expect(await imageIds()).toEqual([]);

    await podman("pull", "--quiet", "--tls-verify=false", imageRef("pod/app:v1"));
    expect(await imageIds()).toEqual([configDigest]);
    const inspected = JSON.parse(await podman("image", "inspect", imageRef("pod/app:v1"))) as { Id: string; Digest: string; RepoDigests: string[] }[];
    expect(`sha256:${inspected[0]!.Id}`).toBe(configDigest);
    expect(inspected[0]!.Digest).toBe(pushedDigest);
    expect(inspected[0]!.RepoDigests).toContain(`${imageRef("pod/app")}@${pushedDigest}`);

    // And by digest, into a store that has nothing.
    await podman("rmi", "--all", "--force");
    const byDigest = (await podman("pull", "--quiet", "--tls-verify=false", imageRef(`pod/app@${pushedDigest}`))).trim();
    expect(`sha256:${byDigest}`).toBe(configDigest);
  });

  test("tags and pushes again: blobs are not re-uploaded, tags are listed", async () => {
    expect(pushedDigest).toBeDefined();
    await podman("tag", imageRef(`pod/app@${pushedDigest}`), imageRef("pod/app:v2"));
    const before = server.requests.length;
    const digestFile = join(tools.dir, "pushed-digest-v2");
    await podman("push", "--tls-verify=false", "--digestfile", digestFile, imageRef("pod/app:v2"));
    expect((await readFile(digestFile, "utf8")).trim()).toBe(pushedDigest);
    const seen = server.requests.slice(before);
    expect(seen.filter((r) => r.method === "PATCH")).toEqual([]);

    const res = await fetch(`${server.running.url}/v2/pod/app/tags/list`);
    expect(res.status).toBe(200);
    const tags = (await res.json()) as { name: string; tags: string[] };
    expect(tags.name).toBe("pod/app");
    expect([...tags.tags].sort()).toEqual(["v1", "v2"]);
  });
});
