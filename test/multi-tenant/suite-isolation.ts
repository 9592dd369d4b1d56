import { describe, expect, it } from "vitest";
import { describeFailure, expectOciError } from "../http-api/client.ts";
import { basic, bearer, jwtPayload, sha256, uniqueTenant } from "./deployment.ts";
import { expectBlobReadable, parseChallenge, type SuiteContext } from "./suite-support.ts";

// Part of the multi-tenant suite (suite.ts): Tenant isolation: what one tenant's keys and tokens get of another's.
export function isolationTests(t: SuiteContext): void {
  describe("tenant isolation", () => {
    /** Every way into b/private, with the given credentials: each must be refused, and b's image stay intact. */
    async function expectLockedOut(auth: string, refusal: (res: Response) => Promise<void>) {
      const priv = `${t.world.b}/private`;
      const { manifestDigest, layerDigest, manifest } = t.world.bPrivate;
      const attempts: [string, string, RequestInit?][] = [
        ["GET", `/v2/${priv}/manifests/v1`],
        ["GET", `/v2/${priv}/manifests/${manifestDigest}`],
        ["HEAD", `/v2/${priv}/manifests/v1`],
        ["GET", `/v2/${priv}/blobs/${layerDigest}`, { redirect: "manual" }],
        ["HEAD", `/v2/${priv}/blobs/${layerDigest}`],
        ["GET", `/v2/${priv}/tags/list`],
        ["GET", `/v2/${priv}/referrers/${manifestDigest}`],
        ["POST", `/v2/${priv}/blobs/uploads/`],
        ["POST", `/v2/${priv}/blobs/uploads/?digest=${sha256(new Uint8Array([7]))}`, { body: new Uint8Array([7]) }],
        ["PUT", `/v2/${priv}/manifests/overwritten`, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest as Uint8Array<ArrayBuffer> }],
        ["PUT", `/v2/${priv}/manifests/v1`, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: t.world.aImage.manifest as Uint8Array<ArrayBuffer> }],
        ["DELETE", `/v2/${priv}/manifests/${manifestDigest}`],
        ["DELETE", `/v2/${priv}/manifests/v1`],
        ["DELETE", `/v2/${priv}/blobs/${layerDigest}`],
      ];
      for (const [method, path, init] of attempts) {
        const res = await t.client.send(method, path, auth, init);
        if (method === "HEAD") expect([401, 403], `${method} ${path}`).toContain(res.status);
        else await refusal(res);
      }
      // b's image is as pushed, and its tag list shows nothing added.
      const owner = basic(t.world.bPush);
      const back = await t.client.send("GET", `/v2/${priv}/manifests/v1`, owner);
      expect(back.status).toBe(200);
      expect(back.headers.get("docker-content-digest")).toBe(manifestDigest);
      await expectBlobReadable(t.client, priv, layerDigest, owner);
      const tags = await t.client.send("GET", `/v2/${priv}/tags/list`, owner);
      expect(((await tags.json()) as { tags: string[] }).tags).toEqual(["v1"]);
    }

    it("tenant a's key (role delete) gets nothing of b's private repository: read, list, write, delete", async () => {
      await expectLockedOut(basic(t.world.aDelete), async (res) => {
        await expectOciError(res, 403, "DENIED");
      });
      // Nor with b's tenant id as the username: the key names its tenant, not the username.
      await expectLockedOut(basic(t.world.aDelete, t.world.b), async (res) => {
        await expectOciError(res, 403, "DENIED");
      });
    });

    it("tenant a's token asked for b's private repository grants nothing there", async () => {
      const priv = `${t.world.b}/private`;
      const { token } = await t.client.token(t.world.aAdmin, [`repository:${priv}:pull,push,delete`, `repository:${t.world.a}/app:pull`]);
      expect(jwtPayload(token).access).toEqual([{ type: "repository", name: `${t.world.a}/app`, actions: ["pull"] }]);
      await expectLockedOut(bearer(token), async (res) => {
        await expectOciError(res, 401, "UNAUTHORIZED");
        expect(parseChallenge(res.headers.get("www-authenticate")).error).toBe("insufficient_scope");
      });
    });

    it("a tenant's key cannot push to another tenant's public repository", async () => {
      const pub = `${t.world.b}/public`;
      const { token } = await t.client.token(t.world.aAdmin, [`repository:${pub}:pull,push,delete`]);
      expect(jwtPayload(token).access).toEqual([{ type: "repository", name: pub, actions: ["pull"] }]);
      const post = await t.client.send("POST", `/v2/${pub}/blobs/uploads/`, bearer(token));
      expect(post.status).toBe(401);
      const basicPost = await t.client.send("POST", `/v2/${pub}/blobs/uploads/`, basic(t.world.aAdmin));
      await expectOciError(basicPost, 403, "DENIED");
      const del = await t.client.send("DELETE", `/v2/${pub}/manifests/${t.world.bPublic.manifestDigest}`, basic(t.world.aAdmin));
      await expectOciError(del, 403, "DENIED");
    });

    it("a mount's challenge names its source repository: following it mounts within the tenant (201), never across tenants (202)", async () => {
      const target = `${t.world.a}/mount-target`;
      for (const [from, digest, expected] of [
        [`${t.world.a}/app`, t.world.aImage.layerDigest, 201],
        [`${t.world.b}/private`, t.world.bPrivate.layerDigest, 202],
        [`${t.world.b}/public`, t.world.bPublic.layerDigest, 202],
      ] as const) {
        const path = `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`;
        const first = await t.client.send("POST", path, undefined);
        await expectOciError(first, 401, "UNAUTHORIZED");
        const challenge = parseChallenge(first.headers.get("www-authenticate"));
        expect(challenge.scope!.split(" ")).toEqual([`repository:${target}:pull,push`, `repository:${from}:pull`]);
        // As docker and containerd do: ask /token for every scope of the challenge, then retry.
        const { token } = await t.client.token(t.world.aPush, challenge.scope!.split(" "));
        const retried = await t.client.send("POST", path, bearer(token));
        expect(retried.status, await describeFailure(retried)).toBe(expected);
        const head = await t.client.send("HEAD", `/v2/${target}/blobs/${digest}`, bearer(token));
        expect(head.status).toBe(expected === 201 ? 200 : 404);
      }
    });

    it("a mount from another tenant's repository never mounts: 202 and an upload session, not 201", async () => {
      const target = `${t.world.a}/mounted`;
      for (const [from, digest] of [
        [`${t.world.b}/private`, t.world.bPrivate.layerDigest],
        // Public or not: blobs never cross tenants (the caller may pull b/public, yet gets no link).
        [`${t.world.b}/public`, t.world.bPublic.layerDigest],
      ] as const) {
        for (const auth of [basic(t.world.aPush), bearer((await t.client.token(t.world.aPush, [`repository:${target}:pull,push`, `repository:${from}:pull`])).token)]) {
          const res = await t.client.send("POST", `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`, auth);
          expect(res.status, await describeFailure(res)).toBe(202);
          expect(res.headers.get("location")).toMatch(new RegExp(`/v2/${target}/blobs/uploads/`));
          const head = await t.client.send("HEAD", `/v2/${target}/blobs/${digest}`, auth);
          expect(head.status).toBe(404);
        }
      }
      // Nor does naming b's blob in a's own repository, or in a manifest pushed to a, reach it.
      const own = await t.client.send("GET", `/v2/${t.world.a}/app/blobs/${t.world.bPrivate.layerDigest}`, basic(t.world.aPush), { redirect: "manual" });
      await expectOciError(own, 404, "BLOB_UNKNOWN");
      const borrowed = await t.client.putManifest(`${t.world.a}/borrowed`, "v1", t.world.bPrivate.manifest, basic(t.world.aPush));
      await expectOciError(borrowed, 400, "MANIFEST_BLOB_UNKNOWN");
    });

    it("an upload session of b's cannot be continued from a's repository", async () => {
      const start = await t.client.send("POST", `/v2/${t.world.b}/private/blobs/uploads/`, basic(t.world.bPush));
      expect(start.status).toBe(202);
      const location = new URL(start.headers.get("location")!, `${t.client.url}/`);
      const id = location.pathname.split("/").at(-1)!;
      const bytes = new Uint8Array([1, 2, 3]);
      const hijack = `/v2/${t.world.a}/app/blobs/uploads/${id}`;
      const status = await t.client.send("GET", hijack, basic(t.world.aPush));
      await expectOciError(status, 404, "BLOB_UPLOAD_UNKNOWN");
      const patch = await t.client.send("PATCH", hijack, basic(t.world.aPush), { headers: { "content-type": "application/octet-stream" }, body: bytes });
      await expectOciError(patch, 404, "BLOB_UPLOAD_UNKNOWN");
      const put = await t.client.send("PUT", `${hijack}?digest=${sha256(bytes)}`, basic(t.world.aPush), { body: bytes });
      await expectOciError(put, 404, "BLOB_UPLOAD_UNKNOWN");
      const direct = await t.client.send("PATCH", location.toString(), basic(t.world.aPush), { headers: { "content-type": "application/octet-stream" }, body: bytes });
      await expectOciError(direct, 403, "DENIED");
    });

    it("the catalog shows a caller its own tenant's repositories and public ones, never another tenant's private ones", async () => {
      const listWith = async (auth: string) => {
        const res = await t.client.send("GET", "/v2/_catalog?n=1000", auth);
        expect(res.status, await describeFailure(res)).toBe(200);
        return ((await res.json()) as { repositories: string[] }).repositories;
      };
      const { token } = await t.client.token(t.world.aPull, ["registry:catalog:*"]);
      for (const seen of [await listWith(bearer(token)), await listWith(basic(t.world.aPull))]) {
        expect(seen).toContain(`${t.world.a}/app`);
        expect(seen).toContain(`${t.world.b}/public`);
        expect(seen).not.toContain(`${t.world.b}/private`);
        expect(seen.filter((n) => n.startsWith(`${t.world.b}/`))).toEqual([`${t.world.b}/public`]);
      }
      const anonymous = await listWith(bearer((await t.client.token(undefined, ["registry:catalog:*"])).token));
      expect(anonymous).toContain(`${t.world.b}/public`);
      expect(anonymous.filter((n) => n.startsWith(`${t.world.a}/`) || n === `${t.world.b}/private`)).toEqual([]);
      // A token without the catalog scope does not list.
      const noScope = await t.client.send("GET", "/v2/_catalog", bearer((await t.client.token(t.world.aPull, [`repository:${t.world.a}/app:pull`])).token));
      expect(noScope.status).toBe(401);
      // ...and its challenge names the scope to ask for, so a t.client can get it.
      expect(noScope.headers.get("www-authenticate")).toContain('scope="registry:catalog:*",error="insufficient_scope"');
    });

    it("tenant a's admin key cannot administer tenant b", async () => {
      const asA = basic(t.world.aAdmin);
      const b = t.world.b;
      const attempts: [string, string, unknown?][] = [
        ["GET", `/admin/v1/tenants/${b}`],
        ["GET", `/admin/v1/tenants/${b}/keys`],
        ["POST", `/admin/v1/tenants/${b}/keys`, { role: "admin" }],
        ["DELETE", `/admin/v1/tenants/${b}/keys/${t.world.bPush.id}`],
        ["GET", `/admin/v1/tenants/${b}/usage`],
        ["GET", `/admin/v1/tenants/${b}/repositories`],
        ["PUT", `/admin/v1/repositories/${b}/private/visibility`, { visibility: "public" }],
        ["GET", `/admin/v1/repositories/${b}/private/manifests`],
        ["PATCH", `/admin/v1/tenants/${b}`, { plan: "default" }],
        ["DELETE", `/admin/v1/tenants/${b}`],
        ["POST", "/admin/v1/tenants", { id: uniqueTenant("x") }],
        ["PUT", "/admin/v1/plans/default", { limits: { repositories: null, storedBytes: null, manifestsPerRepository: null } }],
        ["GET", "/admin/v1/tenants"],
      ];
      for (const [method, path, body] of attempts) {
        const res = await t.client.admin(method, path, body, asA);
        expect(res.status, `${method} ${path}: ${await describeFailure(res)}`).toBe(403);
        expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("DENIED");
      }
      // A key of a limited to b's repositories is refused too.
      const crafted = await t.client.admin("POST", `/admin/v1/tenants/${t.world.a}/keys`, { role: "push", repositories: [`${b}/**`] }, asA);
      expect(crafted.status).toBe(400);
      // Nothing changed: b's key works, b/private is private.
      await t.client.pushImage(`${b}/still-mine`, "v1", basic(t.world.bPush));
      const anonymous = await t.client.token(undefined, [`repository:${b}/private:pull`]);
      expect(jwtPayload(anonymous.token).access).toEqual([]);
    });
  });
}
