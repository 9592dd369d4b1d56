import { describe, expect, it } from "vitest";
import { RegistryError } from "../src/errors.ts";
import { nextLink, parsePageRequest } from "../src/http/pagination.ts";
import { parseContentRange, parseRangeHeader, uploadRangeHeader } from "../src/http/ranges.ts";
import { matchRoute, route } from "../src/http/router.ts";
import { KeyedLock } from "../src/services/keyed-lock.ts";

const ok = async () => new Response(null);

describe("router", () => {
  const routes = [
    route("POST", "/v2/<name>/blobs/uploads/", ["push"], ok),
    route("GET", "/v2/<name>/blobs/<digest>", ["pull"], ok),
    route("GET", "/v2/<name>/manifests/<reference>", ["pull"], ok),
  ];
  it("captures multi-component names greedily", () => {
    const m = matchRoute(routes, "GET", "/v2/a/blobs/b/manifests/v1");
    expect(m.kind === "found" && m.params).toEqual({ name: "a/blobs/b", reference: "v1" });
  });
  it("tries upload routes before blob routes", () => {
    const m = matchRoute(routes, "POST", "/v2/a/b/blobs/uploads/");
    expect(m.kind === "found" && m.route.pattern).toBe("/v2/<name>/blobs/uploads/");
  });
  it("tells a wrong method from an unknown path", () => {
    expect(matchRoute(routes, "DELETE", "/v2/a/manifests/v1")).toEqual({ kind: "method-not-allowed", allowed: ["GET"] });
    expect(matchRoute(routes, "GET", "/v3/x")).toEqual({ kind: "not-found" });
  });
  it("refuses an invalid name in a matching path with NAME_INVALID", () => {
    expect(() => matchRoute(routes, "GET", "/v2/A/manifests/v1")).toThrow(RegistryError);
  });
});

describe("Range on blob GET", () => {
  it.each([
    ["bytes=0-9", { start: 0, end: 9 }],
    ["bytes=10-", { start: 10, end: 99 }],
    ["bytes=-5", { start: 95, end: 99 }],
    ["bytes=90-1000", { start: 90, end: 99 }],
    ["bytes=-500", { start: 0, end: 99 }],
  ])("%s of 100 bytes", (value, range) => {
    expect(parseRangeHeader(value, 100)).toEqual(range);
  });
  it.each(["bytes=100-", "bytes=5-2", "bytes=0-1,3-4", "items=0-1", "bytes=-0", "bytes=-", "garbage"])("%s is RANGE_INVALID with Content-Range */size", (value) => {
    try {
      parseRangeHeader(value, 100);
      expect.unreachable();
    } catch (e) {
      expect((e as RegistryError).code).toBe("RANGE_INVALID");
      expect((e as RegistryError).headers["content-range"]).toBe("bytes */100");
    }
  });
  it("absent means whole blob", () => expect(parseRangeHeader(null, 100)).toBeUndefined());
});

describe("Content-Range on upload PATCH", () => {
  it("reads the spec form and the bytes form", () => {
    expect(parseContentRange("0-99")).toEqual({ start: 0, end: 99 });
    expect(parseContentRange("bytes 100-199/*")).toEqual({ start: 100, end: 199 });
  });
  it.each(["5-2", "a-b", "-5", "0-"])("refuses %s", (value) => {
    expect(() => parseContentRange(value)).toThrow(/Content-Range/);
  });
  it("answers Range 0-0 for an empty upload, like the CNCF registry", () => {
    expect(uploadRangeHeader(0)).toBe("0-0");
    expect(uploadRangeHeader(10)).toBe("0-9");
  });
});

describe("pagination", () => {
  it("caps n at the page size and keeps last", () => {
    expect(parsePageRequest(new URL("http://x/?n=5000&last=b"), 1000)).toEqual({ limit: 1000, after: "b", requested: 5000 });
    expect(parsePageRequest(new URL("http://x/"), 1000)).toEqual({ limit: 1000 });
  });
  it.each(["-1", "abc", "1e3", ""])("refuses n=%s", (n) => {
    expect(() => parsePageRequest(new URL(`http://x/?n=${n}`), 1000)).toThrow(RegistryError);
  });
  it("links to the next page only when there is one", () => {
    expect(nextLink("/v2/a/tags/list", { items: ["x", "y"], more: true }, 2)).toEqual({ link: '</v2/a/tags/list?n=2&last=y>; rel="next"' });
    expect(nextLink("/v2/a/tags/list", { items: ["x"], more: false }, 2)).toEqual({});
  });
});

describe("KeyedLock", () => {
  it("runs work on one key one at a time and other keys in parallel", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (key: string, name: string, ms: number) =>
      lock.run(key, async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}-`);
      });
    await Promise.all([step("k", "a", 20), step("k", "b", 1), step("j", "c", 1)]);
    expect(log.indexOf("a-")).toBeLessThan(log.indexOf("b+"));
    expect(log.indexOf("c-")).toBeLessThan(log.indexOf("a-"));
  });
  it("releases the key when work throws", async () => {
    const lock = new KeyedLock();
    await expect(lock.run("k", async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    await expect(lock.run("k", async () => 1)).resolves.toBe(1);
  });
});
