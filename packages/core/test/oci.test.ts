import { describe, expect, it } from "vitest";
import { RegistryError } from "../src/errors.ts";
import { digestOf, parseDigest, tryParseDigest } from "../src/oci/digest.ts";
import { parseRepositoryName, parseTag, namespaceOf } from "../src/oci/names.ts";
import { parseReference } from "../src/services/manifests.ts";
import { decodePathEscapes, rawPathProblem } from "../src/http/raw-path.ts";

const hex64 = "a".repeat(64);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof RegistryError ? e.code : "not a RegistryError";
  }
  return undefined;
}

describe("digests", () => {
  it("accepts sha256 and sha512 of the right length in lower-case hex", () => {
    expect(tryParseDigest(`sha256:${hex64}`)).toBe(`sha256:${hex64}`);
    expect(tryParseDigest(`sha512:${"0".repeat(128)}`)).toBeDefined();
  });
  it.each([
    `sha256:${"A".repeat(64)}`,
    `sha256:${hex64.slice(1)}`,
    `sha512:${hex64}`,
    `md5:${"a".repeat(32)}`,
    "sha256",
    `sha256:${hex64}:x`,
    "",
    `sha256:${"a".repeat(10_000)}`,
  ])("refuses %s with DIGEST_INVALID", (value) => {
    expect(tryParseDigest(value)).toBeUndefined();
    expect(codeOf(() => parseDigest(value))).toBe("DIGEST_INVALID");
  });
  it("digests bytes with the named algorithm", () => {
    expect(digestOf(new TextEncoder().encode("{}"))).toBe("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    expect(digestOf(new Uint8Array(), "sha512")).toMatch(/^sha512:cf83e1357eefb8bd/);
  });
});

describe("repository names", () => {
  it.each(["alpine", "library/alpine", "a/b/c", "my-app", "my__app", "a.b_c--d/e0", "x".repeat(255)])("accepts %s", (name) => {
    expect(parseRepositoryName(name)).toBe(name);
  });
  it.each(["Alpine", "a//b", "a/", "/a", "a-", "-a", "a/../b", "a%2Fb", "a_/b", "a___b", "x".repeat(256), "", "a b"])("refuses %s with NAME_INVALID", (name) => {
    expect(codeOf(() => parseRepositoryName(name))).toBe("NAME_INVALID");
  });
  it("finds the namespace in the first component", () => {
    expect(namespaceOf(parseRepositoryName("acme/web/api"))).toBe("acme");
    expect(namespaceOf(parseRepositoryName("alpine"))).toBe("alpine");
  });
});

describe("tags and references", () => {
  it.each(["latest", "v1.2.3", "_x", "A-b.c_d", "a".repeat(128)])("accepts tag %s", (tag) => {
    expect(parseTag(tag)).toBe(tag);
  });
  it.each(["-x", ".x", "a".repeat(129), "a/b", "a b", ""])("refuses tag %s", (tag) => {
    expect(codeOf(() => parseTag(tag))).toBe("TAG_INVALID");
  });
  it("reads a reference with a colon as a digest, otherwise as a tag", () => {
    expect(parseReference(`sha256:${hex64}`)).toEqual({ kind: "digest", digest: `sha256:${hex64}` });
    expect(parseReference("v1")).toEqual({ kind: "tag", tag: "v1" });
    expect(codeOf(() => parseReference("sha256:zz"))).toBe("DIGEST_INVALID");
  });
});

describe("raw paths", () => {
  it.each([
    "/v2/a/../b/tags/list",
    "/v2/./a/tags/list",
    "/v2/a/%2e%2e/b/tags/list",
    "/v2/a/%2E/b",
    "/v2/a/..",
    "/v2/alice/..\\bob/private/tags/list",
    "/v2/a\\b/tags/list",
    "/v2/a/%5C../b/tags/list",
    "/v2/a/%5c/b",
    "/v2/a%2Fb/tags/list",
    "/v2/a/%2e./b",
    "/v2/a/%252e%252e/b",
    "/v2/a/%09/b",
    "/v2/a/%00/b",
    "/v2/a/%C3%A9/b",
    "/v2/a/%zz/b",
    "/v2/a/%2",
    "/admin/v1/tenants/a\\..\\b",
    "/token\\..\\admin/v1/tenants",
    "/v2/a/\"quoted\"/b",
  ])("refuses %s", (p) => {
    expect(rawPathProblem(p)).toBeDefined();
  });
  it.each(["/v2/a.b/tags/list", "/v2/a/blobs/sha256:abc", "/v2/a/manifests/v1..2?x=/../\\", "/v2/a/blobs/sha256%3Aabc", "/token?scope=repository:a/b:pull", "/v2/a/b/manifests/.hidden"])(
    "serves %s",
    (p) => {
      expect(rawPathProblem(p)).toBeUndefined();
    },
  );
  it("decodes only the escapes that cannot become a separator or a dot segment", () => {
    expect(decodePathEscapes("/v2/a/blobs/sha256%3Aabc")).toBe("/v2/a/blobs/sha256:abc");
    expect(decodePathEscapes("/v2/a%2Fb/%2e%2E/%5C/%25/%zz")).toBe("/v2/a%2Fb/%2e%2E/%5C/%25/%zz");
  });
  it("names the backslash", () => {
    expect(rawPathProblem("/v2/alice/..\\bob/private/tags/list")).toMatch(/backslash/);
  });
});
