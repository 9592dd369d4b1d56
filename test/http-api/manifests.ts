import { describe, expect } from "vitest";
import { it } from "./known-failures.ts";
import {
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  EMPTY_DESCRIPTOR,
  EMPTY_DIGEST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  digestOf,
  expectApiVersion,
  expectBytes,
  expectHeadError,
  expectOciError,
  randomBlob,
  uniqueName,
  utf8,
  type Descriptor,
  type RegistryClient,
} from "./client.ts";

/** GET and HEAD by tag and by digest: 200, the pushed media type, the exact bytes, the digest. */
async function expectManifest(client: RegistryClient, name: string, references: string[], pushed: { mediaType: string; digest: string; bytes: Uint8Array }): Promise<void> {
  for (const reference of references) {
    const get = await client.fetch(`/v2/${name}/manifests/${reference}`, { headers: { accept: [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ") } });
    expect(get.status, reference).toBe(200);
    expectApiVersion(get);
    expect(get.headers.get("content-type")).toBe(pushed.mediaType);
    expect(get.headers.get("docker-content-digest")).toBe(pushed.digest);
    expectBytes(await get.arrayBuffer(), pushed.bytes);
    const head = await client.fetch(`/v2/${name}/manifests/${reference}`, { method: "HEAD" });
    expect(head.status, reference).toBe(200);
    expect(head.headers.get("content-type")).toBe(pushed.mediaType);
    expect(head.headers.get("docker-content-digest")).toBe(pushed.digest);
    expect(head.headers.get("content-length")).toBe(String(pushed.bytes.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  }
}

async function expectNoManifest(client: RegistryClient, name: string, reference: string): Promise<void> {
  await expectOciError(await client.fetch(`/v2/${name}/manifests/${reference}`), 404, "MANIFEST_UNKNOWN");
  await expectHeadError(await client.fetch(`/v2/${name}/manifests/${reference}`, { method: "HEAD" }), 404);
}

/** A config and a layer pushed to the repository, for manifests to reference. */
async function imageParts(client: RegistryClient, name: string, configType = OCI_CONFIG, layerType = OCI_LAYER): Promise<{ config: Descriptor; layer: Descriptor }> {
  const config = await client.pushDescriptor(name, configType, utf8(JSON.stringify({ architecture: "amd64", os: "linux", seed: Math.random() })));
  const layer = await client.pushDescriptor(name, layerType, randomBlob(128).bytes);
  return { config, layer };
}

// end-3 (GET/HEAD manifest), end-7 (PUT), end-9 (DELETE).
export function manifestTests(client: RegistryClient): void {
  describe("manifests: push and pull (end-3, end-7)", () => {
    it("an OCI image manifest by tag: 201 Location and Docker-Content-Digest; GET/HEAD by tag and digest", async () => {
      const name = uniqueName("manifests");
      const { config, layer } = await imageParts(client, name);
      const bytes = utf8(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
      const res = await client.putManifest(name, "v1", bytes, OCI_MANIFEST);
      expect(res.status).toBe(201);
      expectApiVersion(res);
      const digest = digestOf(bytes);
      expect(client.location(res).pathname).toBe(`/v2/${name}/manifests/${digest}`);
      expect(res.headers.get("docker-content-digest")).toBe(digest);
      await expectManifest(client, name, ["v1", digest], { mediaType: OCI_MANIFEST, digest, bytes });
    });

    it("a manifest with odd whitespace and key order is served byte for byte", async () => {
      const name = uniqueName("manifests");
      const { config, layer } = await imageParts(client, name);
      const text =
        `{\n\t"layers" : [ {"size":${layer.size},   "digest":"${layer.digest}","mediaType":"${layer.mediaType}"} ],\r\n` +
        `  "config":{"digest":"${config.digest}" , "mediaType":"${config.mediaType}","size":${config.size}},\n` +
        `"schemaVersion"  :2, "annotations": {"z": "1", "a": "2"}   }\n\n`;
      const pushed = await client.pushManifest(name, "odd", text, OCI_MANIFEST);
      await expectManifest(client, name, ["odd", pushed.digest], pushed);
    });

    it("PUT by digest: 201 with Location; the manifest is untagged", async () => {
      const name = uniqueName("manifests");
      const { config, layer } = await imageParts(client, name);
      const bytes = utf8(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
      const digest = digestOf(bytes);
      const res = await client.putManifest(name, digest, bytes, OCI_MANIFEST);
      expect(res.status).toBe(201);
      expect(client.location(res).pathname).toBe(`/v2/${name}/manifests/${digest}`);
      expect(res.headers.get("docker-content-digest")).toBe(digest);
      await expectManifest(client, name, [digest], { mediaType: OCI_MANIFEST, digest, bytes });
      expect(await (await client.fetch(`/v2/${name}/tags/list`)).json()).toEqual({ name, tags: [] });
    });

    it("PUT by digest with ?tag=a&tag=b sets both tags", async () => {
      const name = uniqueName("manifests");
      const { config, layer } = await imageParts(client, name);
      const bytes = utf8(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
      const pushed = await client.pushManifest(name, `${digestOf(bytes)}?tag=a&tag=b`, bytes, OCI_MANIFEST);
      await expectManifest(client, name, ["a", "b"], pushed);
      expect(await (await client.fetch(`/v2/${name}/tags/list`)).json()).toEqual({ name, tags: ["a", "b"] });
    });

    it("refuses more than 20 ?tag= parameters and stores nothing", async () => {
      const name = uniqueName("manifests");
      const { config, layer } = await imageParts(client, name);
      const bytes = utf8(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
      const query = Array.from({ length: 21 }, (_, i) => `tag=t${i}`).join("&");
      const res = await client.putManifest(name, `${digestOf(bytes)}?${query}`, bytes, OCI_MANIFEST);
      await expectOciError(res, 400, "MANIFEST_INVALID");
      expect((await client.fetch(`/v2/${name}/manifests/${digestOf(bytes)}`)).status).toBe(404);
    });

    it("an OCI index whose children were pushed first", async () => {
      const name = uniqueName("index");
      const amd64 = await client.pushImage(name, "amd64");
      const arm64 = await client.pushImage(name, "arm64");
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: amd64.digest, size: amd64.size, platform: { architecture: "amd64", os: "linux" } },
          { mediaType: OCI_MANIFEST, digest: arm64.digest, size: arm64.size, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
        ],
      };
      const pushed = await client.pushManifest(name, "multi", index, OCI_INDEX);
      await expectManifest(client, name, ["multi", pushed.digest], pushed);
    });

    it("a Docker schema 2 manifest and a Docker manifest list", async () => {
      const name = uniqueName("docker");
      const { config, layer } = await imageParts(client, name, DOCKER_CONFIG, DOCKER_LAYER);
      const image = await client.pushManifest(name, "image", { schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] }, DOCKER_MANIFEST);
      await expectManifest(client, name, ["image", image.digest], image);
      const list = {
        schemaVersion: 2,
        mediaType: DOCKER_LIST,
        manifests: [{ mediaType: DOCKER_MANIFEST, digest: image.digest, size: image.size, platform: { architecture: "amd64", os: "linux" } }],
      };
      const pushed = await client.pushManifest(name, "list", list, DOCKER_LIST);
      await expectManifest(client, name, ["list", pushed.digest], pushed);
    });

    it("an artifact with artifactType and the empty config, whose empty blob was never uploaded", async () => {
      const name = uniqueName("artifact");
      const layer = await client.pushDescriptor(name, "application/vnd.example.sbom.v1+json", utf8('{"sbom":true}'));
      const artifact = { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sbom.v1", config: EMPTY_DESCRIPTOR, layers: [layer] };
      const pushed = await client.pushManifest(name, "sbom", artifact, OCI_MANIFEST);
      await expectManifest(client, name, ["sbom", pushed.digest], pushed);
      const empty = await client.fetch(`/v2/${name}/blobs/${EMPTY_DIGEST}`);
      expect(empty.status).toBe(200);
      expect(await empty.text()).toBe("{}");
    });

    it("a Helm chart", async () => {
      const name = uniqueName("helm");
      const config = await client.pushDescriptor(name, "application/vnd.cncf.helm.config.v1+json", utf8('{"name":"demo","version":"0.1.0","apiVersion":"v2"}'));
      const chart = await client.pushDescriptor(name, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", randomBlob(512).bytes);
      const pushed = await client.pushManifest(name, "0.1.0", { schemaVersion: 2, config, layers: [chart] }, OCI_MANIFEST);
      await expectManifest(client, name, ["0.1.0", pushed.digest], pushed);
    });

    it("a manifest with a subject: the PUT answers OCI-Subject, even when the subject is not there", async () => {
      const name = uniqueName("subject");
      const subject = { mediaType: OCI_MANIFEST, digest: randomBlob(10).digest, size: 10 };
      const { config, layer } = await imageParts(client, name);
      const bytes = utf8(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], subject }));
      const res = await client.putManifest(name, digestOf(bytes), bytes, OCI_MANIFEST);
      expect(res.status).toBe(201);
      expect(res.headers.get("oci-subject")).toBe(subject.digest);
    });

    it("pushing a tag again moves it to the new manifest", async () => {
      const name = uniqueName("retag");
      await client.pushImage(name, "latest");
      const second = await client.pushImage(name, "latest");
      await expectManifest(client, name, ["latest"], second);
    });

    it("an unknown tag or digest is 404 MANIFEST_UNKNOWN (HEAD: no body)", async () => {
      const name = uniqueName("manifests");
      await expectNoManifest(client, name, "nope");
      await expectNoManifest(client, name, randomBlob(1).digest);
      await client.pushImage(name, "there");
      await expectNoManifest(client, name, "nope");
      await expectNoManifest(client, name, randomBlob(1).digest);
    });

    it("a malformed digest reference names no manifest: 404 MANIFEST_UNKNOWN (a push to it is 400 DIGEST_INVALID)", async () => {
      const name = uniqueName("manifests");
      await expectOciError(await client.fetch(`/v2/${name}/manifests/sha256:xyz`), 404, "MANIFEST_UNKNOWN");
      await expectOciError(await client.putManifest(name, "sha256:xyz", "{}", OCI_MANIFEST), 400, "DIGEST_INVALID");
    });
  });

  describe("manifests: deletion (end-9)", () => {
    it("DELETE by digest answers 202; the manifest and its tags are gone", async () => {
      const name = uniqueName("delete");
      const pushed = await client.pushImage(name, "one");
      await client.pushManifest(name, "two", pushed.bytes, OCI_MANIFEST);
      const keep = await client.pushImage(name, "keep");
      const res = await client.fetch(`/v2/${name}/manifests/${pushed.digest}`, { method: "DELETE" });
      expect(res.status).toBe(202);
      expectApiVersion(res);
      for (const reference of [pushed.digest, "one", "two"]) await expectNoManifest(client, name, reference);
      expect(await (await client.fetch(`/v2/${name}/tags/list`)).json()).toEqual({ name, tags: ["keep"] });
      await expectManifest(client, name, ["keep"], keep);
      await expectOciError(await client.fetch(`/v2/${name}/manifests/${pushed.digest}`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
    });

    it("GET, HEAD and DELETE by a reference that cannot exist answer 404 MANIFEST_UNKNOWN (conformance: .INVALID_MANIFEST_NAME)", async () => {
      const name = uniqueName("impossible");
      await client.pushImage(name, "v1");
      for (const reference of [".INVALID_MANIFEST_NAME", "-dash", "t".repeat(129), "sha256:short", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + "A".repeat(64)]) {
        await expectNoManifest(client, name, reference);
        await expectOciError(await client.fetch(`/v2/${name}/manifests/${reference}`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
      }
      expect(await (await client.fetch(`/v2/${name}/tags/list`)).json()).toEqual({ name, tags: ["v1"] });
    });

    it("DELETE by tag answers 202 and removes only that tag", async () => {
      const name = uniqueName("delete");
      const pushed = await client.pushImage(name, "one");
      await client.pushManifest(name, "two", pushed.bytes, OCI_MANIFEST);
      expect((await client.fetch(`/v2/${name}/manifests/one`, { method: "DELETE" })).status).toBe(202);
      await expectNoManifest(client, name, "one");
      await expectManifest(client, name, ["two", pushed.digest], pushed);
      await expectOciError(await client.fetch(`/v2/${name}/manifests/one`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
    });
  });

  describe("manifests: refused pushes leave nothing behind", () => {
    type Refusal = { why: string; status: number; code: string; message?: RegExp; build: (parts: { config: Descriptor; layer: Descriptor; name: string }) => Promise<{ body: string | Uint8Array; mediaType?: string; reference?: string }> | { body: string | Uint8Array; mediaType?: string; reference?: string } };
    const json = (value: unknown) => JSON.stringify(value);
    const refusals: Refusal[] = [
      { why: "invalid JSON", status: 400, code: "MANIFEST_INVALID", build: () => ({ body: '{"schemaVersion": 2,' }) },
      { why: "a JSON array", status: 400, code: "MANIFEST_INVALID", build: () => ({ body: "[]" }) },
      { why: "a missing config", status: 400, code: "MANIFEST_INVALID", message: /config/, build: ({ layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [layer] }) }) },
      { why: "a negative size", status: 400, code: "MANIFEST_INVALID", message: /size/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, size: -1 }] }) }) },
      { why: "a bad digest in a descriptor", status: 400, code: "MANIFEST_INVALID", message: /digest/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, digest: "sha256:nothex" }] }) }) },
      { why: "schemaVersion 1", status: 400, code: "MANIFEST_INVALID", message: /schema 1/, build: () => ({ body: json({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [], history: [] }), mediaType: "application/json" }) },
      { why: "the schema 1 media type", status: 400, code: "MANIFEST_INVALID", message: /schema 1/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, config, layers: [layer] }), mediaType: "application/vnd.docker.distribution.manifest.v1+prettyjws" }) },
      { why: "Content-Type and mediaType disagreeing", status: 400, code: "MANIFEST_INVALID", message: /mediaType/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] }), mediaType: OCI_MANIFEST }) },
      { why: "a layer not in the repository", status: 400, code: "MANIFEST_BLOB_UNKNOWN", build: ({ config }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ mediaType: OCI_LAYER, digest: randomBlob(5).digest, size: 5 }] }) }) },
      { why: "a descriptor size that differs from the blob's", status: 400, code: "MANIFEST_INVALID", message: /size|bytes/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, size: layer.size + 1 }] }) }) },
      { why: "an index child not in the repository", status: 400, code: "MANIFEST_UNKNOWN", build: () => ({ body: json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: randomBlob(5).digest, size: 5 }] }), mediaType: OCI_INDEX }) },
      { why: "a digest in the URL that the bytes do not hash to", status: 400, code: "DIGEST_INVALID", build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), reference: randomBlob(5).digest }) },
      // Go clients match keys case-insensitively: they would pull a layer the registry never checked.
      { why: "a \"Layers\" key beside \"layers\"", status: 400, code: "MANIFEST_INVALID", message: /letter case/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, Layers: [{ ...layer, digest: randomBlob(9).digest }], layers: [layer] }) }) },
      { why: "a lone \"Subject\"", status: 400, code: "MANIFEST_INVALID", message: /letter case/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], Subject: layer }) }) },
      { why: "a duplicate key", status: 400, code: "MANIFEST_INVALID", message: /twice/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }).replace('"layers":', `"layers":[],"layers":`) }) },
      { why: "a UTF-8 byte-order mark", status: 400, code: "MANIFEST_INVALID", message: /byte-order mark/, build: ({ config, layer }) => ({ body: new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }))]) }) },
      { why: "nesting 64 levels deep", status: 400, code: "MANIFEST_INVALID", message: /nests deeper/, build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], x: JSON.parse("[".repeat(64) + "]".repeat(64)) }) }) },
      { why: "a body over 4 MiB", status: 413, code: "MANIFEST_INVALID", build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], annotations: { pad: "x".repeat(4 * 1024 * 1024) } }) }) },
      { why: "an invalid tag (leading -)", status: 400, code: "TAG_INVALID", build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), reference: "-bad" }) },
      { why: "an invalid tag (129 characters)", status: 400, code: "TAG_INVALID", build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), reference: "t".repeat(129) }) },
      { why: "an invalid tag (the conformance suite's .INVALID_MANIFEST_NAME)", status: 400, code: "TAG_INVALID", build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), reference: ".INVALID_MANIFEST_NAME" }) },
      { why: "an invalid extra tag (?tag=)", status: 400, code: "TAG_INVALID", build: ({ config, layer }) => ({ body: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), reference: "ok?tag=.dot" }) },
    ];

    for (const refusal of refusals) {
      it(`${refusal.why}: ${refusal.status} ${refusal.code}`, async () => {
        const name = uniqueName("refused");
        const parts = await imageParts(client, name);
        const { body, mediaType = OCI_MANIFEST, reference = "refused" } = await refusal.build({ ...parts, name });
        const error = await expectOciError(await client.putManifest(name, reference, body, mediaType), refusal.status, refusal.code);
        if (refusal.message) expect(error.message).toMatch(refusal.message);
        const bytes = typeof body === "string" ? utf8(body) : body;
        await expectNoManifest(client, name, "refused");
        await expectNoManifest(client, name, "ok");
        await expectNoManifest(client, name, digestOf(bytes));
        expect(await (await client.fetch(`/v2/${name}/tags/list`)).json()).toEqual({ name, tags: [] });
      });
    }
  });
}
