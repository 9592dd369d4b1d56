import { mkdtemp, readFile, rm, stat, symlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registryHost } from "../src/commands/login.ts";
import { stratus } from "./cli-test-support.ts";

const KEY = "stratus_abcdefghijklmnop_0123456789abcdefghijABCDEFGHIJ0123456789a";
const auth = (user: string, key = KEY) => Buffer.from(`${user}:${key}`).toString("base64");

let dir: string;
let env: Record<string, string>;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratus-login-"));
  env = { DOCKER_CONFIG: join(dir, "docker") };
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const config = async (path = join(dir, "docker", "config.json")) => JSON.parse(await readFile(path, "utf8"));

describe("stratus login", () => {
  it("creates $DOCKER_CONFIG/config.json with mode 0600, the key read from stdin", async () => {
    const run = await stratus(["login", "registry.example.com", "--tenant", "acme", "--key-stdin"], { env, stdin: `${KEY}\n` });
    expect(run.code).toBe(0);
    expect(run.out).toBe(`Login Succeeded: credentials for registry.example.com (user acme) saved in ${join(dir, "docker", "config.json")}\n`);
    expect(run.out + run.err).not.toContain(KEY);
    expect(await config()).toEqual({ auths: { "registry.example.com": { auth: auth("acme") } } });
    expect((await stat(join(dir, "docker", "config.json"))).mode & 0o777).toBe(0o600);
  });

  it("keeps everything else in the file, and replaces only this host's credentials", async () => {
    await mkdir(join(dir, "docker"));
    const existing = {
      auths: {
        "ghcr.io": { auth: "b3RoZXI6dG9rZW4=" },
        "localhost:5000": { auth: "old", identitytoken: "stale", email: "x@example.com" },
      },
      psFormat: "table {{.ID}}",
      proxies: { default: { httpProxy: "http://proxy:3128" } },
    };
    await writeFile(join(dir, "docker", "config.json"), JSON.stringify(existing), { mode: 0o644 });
    const run = await stratus(["login", "http://localhost:5000/v2/", "--tenant", "acme", "--key-stdin"], { env, stdin: KEY });
    expect(run.code).toBe(0);
    expect(await config()).toEqual({
      ...existing,
      auths: { "ghcr.io": { auth: "b3RoZXI6dG9rZW4=" }, "localhost:5000": { auth: auth("acme"), email: "x@example.com" } },
    });
    expect((await stat(join(dir, "docker", "config.json"))).mode & 0o777).toBe(0o600);
  });

  it("falls back to ~/.docker/config.json", async () => {
    const run = await stratus(["login", "registry.example.com", "--tenant", "acme", "--key-stdin"], { env: {}, home: dir, stdin: KEY });
    expect(run.code).toBe(0);
    expect((await config(join(dir, ".docker", "config.json"))).auths["registry.example.com"].auth).toBe(auth("acme"));
  });

  it("updates a symlinked config where it points", async () => {
    await mkdir(join(dir, "docker"));
    await writeFile(join(dir, "real.json"), "{}");
    await symlink(join(dir, "real.json"), join(dir, "docker", "config.json"));
    await stratus(["login", "r.example", "--tenant", "acme", "--key-stdin"], { env, stdin: KEY });
    expect((await config(join(dir, "real.json"))).auths["r.example"].auth).toBe(auth("acme"));
  });

  it("warns against --key on the command line, and still saves it", async () => {
    const run = await stratus(["login", "r.example", "--tenant", "acme", "--key", KEY], { env });
    expect(run.code).toBe(0);
    expect(run.err).toContain("prefer --key-stdin");
    expect(run.err).not.toContain(KEY);
  });

  it("warns when a credential store would take precedence", async () => {
    await mkdir(join(dir, "docker"));
    await writeFile(join(dir, "docker", "config.json"), JSON.stringify({ credsStore: "desktop" }));
    const run = await stratus(["login", "r.example", "--tenant", "acme", "--key-stdin"], { env, stdin: KEY });
    expect(run.err).toContain('credsStore "desktop"');
  });

  it("leaves a malformed config untouched", async () => {
    await mkdir(join(dir, "docker"));
    await writeFile(join(dir, "docker", "config.json"), "{ not json");
    const run = await stratus(["login", "r.example", "--tenant", "acme", "--key-stdin"], { env, stdin: KEY });
    expect([run.code, run.err]).toEqual([1, expect.stringContaining("not valid JSON")]);
    expect(await readFile(join(dir, "docker", "config.json"), "utf8")).toBe("{ not json");
  });

  it.each([
    [["login", "r.example", "--key-stdin"], /--tenant/],
    [["login", "r.example", "--tenant", "acme"], /--key-stdin/],
    [["login", "r.example", "--tenant", "acme", "--key-stdin", "--key", "x"], /one of them/],
    [["login", "r.example", "--tenant", "acme", "--key-stdin"], /empty/],
    [["login", "not a host", "--tenant", "acme", "--key", "k"], /expected a host/],
  ])("refuses %j", async (argv, message) => {
    const run = await stratus(argv, { env, stdin: "" });
    expect([run.code, run.err]).toEqual([1, expect.stringMatching(message)]);
  });

  it("reads the host docker keys credentials by", () => {
    expect(registryHost("registry.example.com")).toBe("registry.example.com");
    expect(registryHost("registry.example.com/acme/web")).toBe("registry.example.com");
    expect(registryHost("https://Registry.Example.com:8443/v2/")).toBe("registry.example.com:8443");
    expect(registryHost("localhost:5000")).toBe("localhost:5000");
  });
});
