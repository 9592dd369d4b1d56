import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { describeFailure, expectOciError } from "../http-api/client.ts";
import { basic, bearer, jwtPayload, sha256, uniqueTenant } from "./deployment.ts";
import { parseChallenge, type SuiteContext } from "./suite-support.ts";

// Part of the multi-tenant suite (suite.ts): Credentials: malformed, revoked, limited to patterns, anonymous, of a deleted tenant.
export function credentialTests(t: SuiteContext): void {
  describe("credentials", () => {
    const malformed: [string, string][] = [
      ["oversized Basic", `Basic ${"QUFB".repeat(2100)}`],
      ["oversized Bearer", `Bearer ${"a".repeat(9000)}`],
      ["bad base64", "Basic !!!not-base64!!!"],
      ["no colon", `Basic ${Buffer.from("justakey").toString("base64")}`],
      ["empty username", `Basic ${Buffer.from(":stratus_aaaaaaaaaaaaaaaa_bbbb").toString("base64")}`],
      ["unknown scheme", "Digest username=\"a\", realm=\"stratus\""],
      ["Bearer alone", "Bearer"],
      ["Basic alone", "Basic"],
      ["not a JWT", "Bearer not.a.jwt"],
      ["not a key", `Basic ${Buffer.from("user:password").toString("base64")}`],
      ["a key of the right shape that does not exist", basic(`stratus_${"a".repeat(16)}_${"b".repeat(43)}`)],
    ];

    it("malformed, oversized and unknown Authorization headers answer 401, never 500", async () => {
      for (const [what, header] of malformed) {
        for (const path of ["/v2/", `/v2/${t.world.a}/app/manifests/v1`, `/token?scope=repository:${t.world.a}/app:pull`, `/admin/v1/tenants/${t.world.a}`]) {
          const res = await t.client.send("GET", path, header);
          expect(res.status, `${what} on ${path}: ${await describeFailure(res)}`).toBe(401);
        }
      }
    });

    it("POST /token with an oversized form: 413 with an OAuth2 invalid_request, no token", async () => {
      const res = await t.client.oauth({ grant_type: "password", username: t.world.a, password: t.world.aPull.key, service: t.deployment!.service, scope: `repository:${t.world.a}/app:pull`, pad: "x".repeat(64 * 1024) });
      expect(res.status, await describeFailure(res)).toBe(413);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.error).toBe("invalid_request");
      expect(String(body.error_description)).toMatch(/larger than \d+ bytes/);
      expect(body.token).toBeUndefined();
      expect(JSON.stringify(body)).not.toContain("MANIFEST");
    });

    it("a revoked key is refused everywhere at once", async () => {
      const key = await t.client.createKey(t.world.a, "admin");
      const ok = await t.client.send("GET", `/v2/${t.world.a}/app/manifests/v1`, basic(key));
      expect(ok.status).toBe(200);
      await t.client.revokeKey(key);
      const direct = await t.client.send("GET", `/v2/${t.world.a}/app/manifests/v1`, basic(key));
      await expectOciError(direct, 401, "UNAUTHORIZED");
      const token = await t.client.send("GET", `/token?scope=repository:${t.world.a}/app:pull`, basic(key));
      expect(token.status).toBe(401);
      const admin = await t.client.admin("GET", `/admin/v1/tenants/${t.world.a}/keys`, undefined, basic(key));
      expect(admin.status).toBe(401);
      const listed = (await t.client.listKeys(t.world.a)).find((k) => k.id === key.id);
      expect(listed?.revokedAt).toBeTruthy();
    });

    it("a deleted tenant's tokens, key and refresh token get nothing of a new tenant of the same name, and leave nothing there", async () => {
      const name = uniqueTenant("re");
      const app = `${name}/app`;
      const service = t.deployment!.service;
      await t.client.createTenant(name);
      const key = await t.client.createKey(name, "delete");
      const scope = `repository:${app}:pull,push,delete`;
      const { token } = await t.client.token(key, [scope, "registry:catalog:*"]);
      const login = await t.client.oauth({ grant_type: "password", username: name, password: key.key, service, scope, access_type: "offline" });
      const refreshToken = ((await login.json()) as { refresh_token: string }).refresh_token;
      // The control: while its tenant lives the token is good (the repository is merely unknown yet).
      await expectOciError(await t.client.send("GET", `/v2/${app}/tags/list`, bearer(token)), 404, "NAME_UNKNOWN");

      const gone = await t.client.admin("DELETE", `/admin/v1/tenants/${name}`);
      expect(gone.status, await describeFailure(gone)).toBe(204);
      await t.client.createTenant(name);

      const blob = new Uint8Array(randomBytes(32));
      const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(blob), size: blob.length }, layers: [] }));
      const attempts: [string, string, RequestInit?][] = [
        ["POST", `/v2/${app}/blobs/uploads/`],
        ["POST", `/v2/${app}/blobs/uploads/?digest=${sha256(blob)}`, { headers: { "content-type": "application/octet-stream" }, body: blob }],
        ["PUT", `/v2/${app}/manifests/v1`, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest as Uint8Array<ArrayBuffer> }],
        ["GET", `/v2/${app}/tags/list`],
        ["GET", "/v2/_catalog"],
      ];
      for (const [method, path, init] of attempts) {
        const res = await t.client.send(method, path, bearer(token), init);
        const error = await expectOciError(res, 401, "UNAUTHORIZED");
        expect(parseChallenge(res.headers.get("www-authenticate")).error, `${method} ${path}`).toBe("invalid_token");
        expect(error.message, `${method} ${path}`).toMatch(/deleted/);
      }
      // The old key and its refresh token are gone with the tenant.
      await expectOciError(await t.client.send("POST", `/v2/${app}/blobs/uploads/`, basic(key)), 401, "UNAUTHORIZED");
      expect((await t.client.send("GET", `/token?service=${service}&scope=${scope}`, basic(key))).status).toBe(401);
      const refreshed = await t.client.oauth({ grant_type: "refresh_token", refresh_token: refreshToken, service, scope });
      expect(refreshed.status).toBe(401);

      // Nothing was written into the new tenant: no repository, no bytes, no upload session.
      const usage = (await (await t.client.admin("GET", `/admin/v1/tenants/${name}/usage`)).json()) as {
        repositories: { used: number }; storedBytes: { used: number }; uploadSessions?: { used: number };
      };
      expect(usage.repositories.used).toBe(0);
      expect(usage.storedBytes.used).toBe(0);
      expect(usage.uploadSessions?.used ?? 0).toBe(0);
      const listed = await t.client.admin("GET", `/admin/v1/tenants/${name}/repositories`);
      expect(((await listed.json()) as { repositories: unknown[] }).repositories).toEqual([]);

      // The new tenant's own key works, and the old token still gets nothing of what it pushed.
      const fresh = await t.client.createKey(name, "push");
      const image = await t.client.pushImage(app, "v1", bearer((await t.client.token(fresh, [`repository:${app}:pull,push`])).token));
      const stolen = await t.client.send("GET", `/v2/${app}/manifests/${image.manifestDigest}`, bearer(token));
      await expectOciError(stolen, 401, "UNAUTHORIZED");
    });

    it("a key limited to repository patterns cannot touch its tenant's other repositories", async () => {
      const key = await t.client.createKey(t.world.a, "delete", [`${t.world.a}/web/*`]);
      await t.client.pushImage(`${t.world.a}/web/api`, "v1", basic(key));
      for (const [method, path] of [
        ["GET", `/v2/${t.world.a}/app/manifests/v1`],
        ["POST", `/v2/${t.world.a}/other/blobs/uploads/`],
        ["POST", `/v2/${t.world.a}/web/api/extra/blobs/uploads/`],
        ["DELETE", `/v2/${t.world.a}/app/manifests/${t.world.aImage.manifestDigest}`],
      ] as const) {
        const res = await t.client.send(method, path, basic(key));
        await expectOciError(res, 403, "DENIED");
      }
      const { token } = await t.client.token(key, [`repository:${t.world.a}/app:pull`, `repository:${t.world.a}/web/api:pull,push`, `repository:${t.world.a}/web:pull`]);
      expect(jwtPayload(token).access).toEqual([{ type: "repository", name: `${t.world.a}/web/api`, actions: ["pull", "push"] }]);
      // Mounting from a repository outside the patterns falls back to an upload session.
      const mount = await t.client.send("POST", `/v2/${t.world.a}/web/mounted/blobs/uploads/?mount=${t.world.aImage.layerDigest}&from=${t.world.a}/app`, basic(key));
      expect(mount.status).toBe(202);
      // Its catalog shows its patterns' repositories of its tenant, and public ones.
      const catalog = await t.client.send("GET", "/v2/_catalog?n=1000", bearer((await t.client.token(key, ["registry:catalog:*"])).token));
      const repositories = ((await catalog.json()) as { repositories: string[] }).repositories;
      expect(repositories.filter((n) => n.startsWith(`${t.world.a}/`))).toEqual([`${t.world.a}/web/api`]);
    });

    it("anonymous callers cannot push, even to a public repository", async () => {
      const pub = `${t.world.b}/public`;
      const { token } = await t.client.token(undefined, [`repository:${pub}:pull,push,delete`]);
      expect(jwtPayload(token).access).toEqual([{ type: "repository", name: pub, actions: ["pull"] }]);
      for (const auth of [bearer(token), undefined]) {
        const post = await t.client.send("POST", `/v2/${pub}/blobs/uploads/`, auth);
        await expectOciError(post, 401, "UNAUTHORIZED");
        const put = await t.client.putManifest(pub, "anonymous", t.world.bPublic.manifest, auth);
        expect(put.status).toBe(401);
        const del = await t.client.send("DELETE", `/v2/${pub}/manifests/${t.world.bPublic.manifestDigest}`, auth);
        expect(del.status).toBe(401);
      }
      // Nor with the password grant and no valid key.
      const login = await t.client.oauth({ grant_type: "password", username: t.world.b, password: "", scope: `repository:${pub}:push` });
      expect(login.status).toBe(401);
    });
  });
}
