import { describe, expect, it } from "vitest";
import { nextPage, registryUrl } from "../src/admin-client.ts";
import { formatBytes, formatTime, parseCount, parseSize, table } from "../src/format.ts";
import { stratus } from "./cli-test-support.ts";

describe("sizes and counts", () => {
  it.each([
    ["500MB", 500e6],
    ["5GB", 5e9],
    ["5 gb", 5e9],
    ["100GB", 100e9],
    ["1.5TB", 1.5e12],
    ["2GiB", 2 * 2 ** 30],
    ["512KiB", 512 * 1024],
    ["1000", 1000],
    ["0", 0],
    ["unlimited", null],
    ["Unlimited", null],
  ])("parseSize(%j) = %j", (text, bytes) => {
    expect(parseSize(text, "--stored")).toBe(bytes);
  });

  it.each([["-1GB"], ["5XB"], ["GB"], ["1e9"], [""], ["99999999999TB"]])("parseSize refuses %j", (text) => {
    expect(() => parseSize(text, "--stored")).toThrow(/--stored/);
  });

  it("parses counts", () => {
    expect(parseCount("500", "--repositories")).toBe(500);
    expect(parseCount("unlimited", "--repositories")).toBeNull();
    for (const bad of ["-1", "1.5", "ten", ""]) expect(() => parseCount(bad, "--repositories")).toThrow(/--repositories/);
  });

  it.each([
    [0, "0 B"],
    [999, "999 B"],
    [1000, "1 kB"],
    [1234, "1.2 kB"],
    [500e6, "500 MB"],
    [5e9, "5 GB"],
    [123_456_789_012, "123 GB"],
    [1.5e12, "1.5 TB"],
  ])("formatBytes(%d) = %s", (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it("formats times and tables", () => {
    expect(formatTime("2025-01-02T03:04:05.000Z")).toBe("2025-01-02 03:04Z");
    expect(formatTime(null)).toBe("-");
    expect(table(["name", "n"], [["a", "1"], ["longer", "22"]])).toBe("NAME    N\na       1\nlonger  22\n");
    expect(table(["name"], [])).toBe("NAME\n");
  });
});

describe("registry URLs and links", () => {
  it("reads a URL or a host, https unless on loopback", () => {
    expect(registryUrl("https://registry.example.com/ignored").href).toBe("https://registry.example.com/");
    expect(registryUrl("registry.example.com").href).toBe("https://registry.example.com/");
    expect(registryUrl("localhost:5000").href).toBe("http://localhost:5000/");
    expect(registryUrl("127.0.0.1:5000").href).toBe("http://127.0.0.1:5000/");
    expect(() => registryUrl("ftp://x")).toThrow(/http or https/);
  });

  it("finds the next page in a Link header", () => {
    expect(nextPage('</admin/v1/tenants?n=2&last=b>; rel="next"')).toBe("/admin/v1/tenants?n=2&last=b");
    expect(nextPage('</x>; rel="prev", </y>; rel="next"')).toBe("/y");
    expect(nextPage(null)).toBeUndefined();
  });
});

describe("arguments", () => {
  it("prints a group's commands for `stratus tenant --help`, and fails without a subcommand", async () => {
    const help = await stratus(["tenant", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("stratus tenant set-plan <id> <plan>");
    expect((await stratus(["tenant"])).code).toBe(1);
  });

  it("prints a command's usage for --help without calling the registry", async () => {
    const run = await stratus(["plan", "set", "--help"]);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^Usage: stratus plan set <name> \[--repositories N\|unlimited\]/);
    expect(run.out).toContain("--registry <url>");
  });

  it.each([
    [["tenant", "create"], /expected <id>, got none/],
    [["tenant", "create", "a", "b"], /expected <id>, got "a" "b"/],
    [["tenant", "create", "a", "--bogus"], /Unknown option '--bogus'/],
    [["tenant", "create", "a", "--plan"], /argument missing/],
    [["tenant", "frobnicate"], /unknown command "tenant frobnicate"/],
    [["nothing"], /unknown command "nothing"/],
    [["usage"], /expected <tenant>/],
  ])("refuses %j", async (argv, message) => {
    const run = await stratus(argv);
    expect(run.code).toBe(1);
    expect(run.out).toBe("");
    expect(run.err).toMatch(/^stratus: /);
    expect(run.err).toMatch(message);
  });
});
