import { describe, expect } from "vitest";
import { it } from "./known-failures.ts";
import { expectApiVersion, expectHeadError, expectOciError, rawRequest, uniqueName, type RegistryClient } from "./client.ts";

// end-1 (the base endpoint), routing (unknown paths, wrong methods) and repository name validation:
// what every deployment answers before any service is reached.
export function errorTests(client: RegistryClient): void {
  describe("base endpoint (end-1)", () => {
    for (const path of ["/v2/", "/v2"]) {
      it(`GET ${path} answers 200 {} with the API version header`, async () => {
        const res = await client.fetch(path);
        expect(res.status).toBe(200);
        expectApiVersion(res);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(await res.json()).toEqual({});
      });
    }
  });

  describe("routing", () => {
    it("an unknown path is 404 UNSUPPORTED", async () => {
      // Paths under /v2/ only: a gateway in front of the registry may answer others itself.
      for (const path of ["/v2/foo/bar", "/v2/foo/blobs", "/v2/foo/manifests/", "/v2/foo/tags/list/x"]) {
        const res = await client.fetch(path);
        const error = await expectOciError(res, 404, "UNSUPPORTED");
        expect(error.message).toContain("no such endpoint");
      }
    });

    it("HEAD of an unknown path is 404 without a body", async () => {
      await expectHeadError(await client.fetch("/v2/foo/bar", { method: "HEAD" }), 404);
    });

    it("a known path with another method is 405 UNSUPPORTED with Allow", async () => {
      const name = uniqueName("routing");
      const tags = await client.fetch(`/v2/${name}/tags/list`, { method: "POST" });
      expect(tags.headers.get("allow")).toBe("GET");
      await expectOciError(tags, 405, "UNSUPPORTED");

      const digest = "sha256:" + "a".repeat(64);
      const blob = await client.fetch(`/v2/${name}/blobs/${digest}`, { method: "PUT", body: "x" });
      expect(blob.headers.get("allow")?.split(/,\s*/).sort()).toEqual(["DELETE", "GET", "HEAD"]);
      await expectOciError(blob, 405, "UNSUPPORTED");

      const base = await client.fetch("/v2/", { method: "DELETE" });
      expect(base.headers.get("allow")).toBe("GET");
      await expectOciError(base, 405, "UNSUPPORTED");

      const uploads = await client.fetch(`/v2/${name}/blobs/uploads/`, { method: "GET" });
      expect(uploads.headers.get("allow")).toBe("POST");
      await expectOciError(uploads, 405, "UNSUPPORTED");
    });
  });

  describe("repository names", () => {
    const invalid: [string, string][] = [
      ["upper case", "Library/Alpine"],
      ["an empty component", "a//b"],
      ["a trailing separator", "abc-"],
      ["a leading separator", "-abc"],
      ["more than 255 characters", "a".repeat(256)],
      ["a percent-encoded slash", "a%2Fb"],
    ];
    for (const [why, name] of invalid) {
      it(`a name with ${why} is 400 NAME_INVALID`, async () => {
        await expectOciError(await client.fetch(`/v2/${name}/tags/list`), 400, "NAME_INVALID");
        await expectOciError(await client.fetch(`/v2/${name}/blobs/uploads/`, { method: "POST" }), 400, "NAME_INVALID");
        await expectHeadError(await client.fetch(`/v2/${name}/manifests/latest`, { method: "HEAD" }), 400);
      });
    }

    it("a name of exactly 255 characters is accepted", async () => {
      const prefix = `${uniqueName("long")}/`;
      const name = prefix + "c".repeat(255 - prefix.length);
      expect(name).toHaveLength(255);
      await expectOciError(await client.fetch(`/v2/${name}/tags/list`), 404, "NAME_UNKNOWN");
    });

    for (const target of ["/v2/a/../b/tags/list", "/v2/a/./b/tags/list", "/v2/../v2/a/tags/list", "/v2/a/%2e%2e/b/tags/list"]) {
      it(`dot segments sent raw (${target}) are 400 NAME_INVALID`, async () => {
        const res = await rawRequest(client.url, "GET", target);
        expect(res.status, res.body).toBe(400);
        expect(res.headers["docker-distribution-api-version"]).toBe("registry/2.0");
        const body = JSON.parse(res.body) as { errors: { code: string; message: string }[] };
        expect(body.errors[0]!.code).toBe("NAME_INVALID");
        expect(body.errors[0]!.message.length).toBeGreaterThan(0);
      });
    }
  });
}
