import { randomBytes } from "node:crypto";
import { SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenKeySet } from "@stratus/core";
import { describeFailure, expectOciError, rawRequest } from "../http-api/client.ts";
import {
  basic,
  bearer,
  jwtPayload,
  MultiTenantClient,
  sha256,
  uniqueTenant,
  type ApiKey,
  type MultiTenantDeployment,
  type PushedImage,
  type StartMultiTenant,
} from "./deployment.ts";

/**
 * The multi-tenant suite (DESIGN.md "Tenancy", "Auth"): the Docker token flow end to end, then the
 * holes a multi-tenant registry must not have, each test written so that it fails if the hole is
 * there. Every deployment runs the very same suite:
 *
 *   multiTenantSuite("the local server", startLocalMultiTenant);
 *
 * `start` is called once; tests use tenants of their own, or the two shared ones (a, b) read-only.
 */
export function multiTenantSuite(name: string, start: StartMultiTenant): void {
  describe(`multi-tenant registry on ${name}`, () => {
    let deployment: MultiTenantDeployment | undefined;
    let client: MultiTenantClient;
    // Two tenants and their content, shared by the tests: a's image, b's private and public images.
    const world = {} as {
      a: string;
      b: string;
      aAdmin: ApiKey;
      aDelete: ApiKey;
      aPush: ApiKey;
      aPull: ApiKey;
      bAdmin: ApiKey;
      bPush: ApiKey;
      aImage: PushedImage;
      bPrivate: PushedImage;
      bPublic: PushedImage;
    };

    beforeAll(async () => {
      deployment = await start();
      client = new MultiTenantClient(deployment);
      const a = await client.createTenant(uniqueTenant("a"));
      const b = await client.createTenant(uniqueTenant("b"));
      Object.assign(world, {
        a,
        b,
        aAdmin: await client.createKey(a, "admin"),
        aDelete: await client.createKey(a, "delete"),
        aPush: await client.createKey(a, "push"),
        aPull: await client.createKey(a, "pull"),
        bAdmin: await client.createKey(b, "admin"),
        bPush: await client.createKey(b, "push"),
      });
      world.aImage = await client.pushImage(`${a}/app`, "v1", basic(world.aPush));
      world.bPrivate = await client.pushImage(`${b}/private`, "v1", basic(world.bPush));
      world.bPublic = await client.pushImage(`${b}/public`, "v1", basic(world.bPush));
      await client.setVisibility(`${b}/public`, "public");
    });
    afterAll(async () => {
      await deployment?.close();
    });

    describe("the Docker token flow", () => {
      it("GET /v2/ without credentials: 401 with the Bearer challenge naming the realm and service", async () => {
        const res = await client.send("GET", "/v2/", undefined);
        await expectOciError(res, 401, "UNAUTHORIZED");
        expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="${client.url}/token",service="${deployment!.service}"`);
      });

      it("repository requests add the scope they need, and a token from that challenge opens them", async () => {
        const app = `${world.a}/app`;
        const pull = await client.send("GET", `/v2/${app}/manifests/v1`, undefined);
        await expectOciError(pull, 401, "UNAUTHORIZED");
        const challenge = parseChallenge(pull.headers.get("www-authenticate"));
        expect(challenge).toEqual({ scheme: "Bearer", realm: `${client.url}/token`, service: deployment!.service, scope: `repository:${app}:pull` });
        const push = await client.send("POST", `/v2/${app}/blobs/uploads/`, undefined);
        expect(push.status).toBe(401);
        expect(parseChallenge(push.headers.get("www-authenticate")).scope).toBe(`repository:${app}:pull,push`);
        const del = await client.send("DELETE", `/v2/${app}/manifests/${world.aImage.manifestDigest}`, undefined);
        expect(del.status).toBe(401);
        expect(parseChallenge(del.headers.get("www-authenticate")).scope).toBe(`repository:${app}:delete`);

        // As a client does: the realm, with service and scope from the challenge, and the key as Basic.
        const realm = new URL(challenge.realm!);
        realm.searchParams.set("service", challenge.service!);
        realm.searchParams.set("scope", challenge.scope!);
        const tokenRes = await client.send("GET", realm.toString(), basic(world.aPull));
        expect(tokenRes.status, await describeFailure(tokenRes)).toBe(200);
        const body = (await tokenRes.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
        expect(body.access_token).toBe(body.token);
        expect(body.expires_in).toBeGreaterThan(0);
        expect(Number.isNaN(Date.parse(body.issued_at))).toBe(false);
        const retried = await client.send("GET", `/v2/${app}/manifests/v1`, bearer(body.token), { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
        expect(retried.status, await describeFailure(retried)).toBe(200);
        expect(new Uint8Array(await retried.arrayBuffer())).toEqual(world.aImage.manifest);
      });

      it("anonymous GET /token gives a token that pulls a public repository and nothing private", async () => {
        const pub = `${world.b}/public`;
        const priv = `${world.b}/private`;
        const { token } = await client.token(undefined, [`repository:${pub}:pull`, `repository:${priv}:pull`]);
        expect(jwtPayload(token).access).toEqual([{ type: "repository", name: pub, actions: ["pull"] }]);
        const manifest = await client.send("GET", `/v2/${pub}/manifests/v1`, bearer(token));
        expect(manifest.status, await describeFailure(manifest)).toBe(200);
        await expectBlobReadable(client, pub, world.bPublic.layerDigest, bearer(token));

        const refused = await client.send("GET", `/v2/${priv}/manifests/v1`, bearer(token));
        await expectOciError(refused, 401, "UNAUTHORIZED");
        const challenge = parseChallenge(refused.headers.get("www-authenticate"));
        expect(challenge.error).toBe("insufficient_scope");
        expect(challenge.scope).toBe(`repository:${priv}:pull`);
        const blob = await client.send("GET", `/v2/${priv}/blobs/${world.bPrivate.layerDigest}`, bearer(token), { redirect: "manual" });
        expect(blob.status).toBe(401);
      });

      it("a token grants exactly the intersection of what was asked and what the key allows", async () => {
        const app = `${world.a}/app`;
        const { token } = await client.token(world.aPush, [`repository:${app}:pull,push,delete`, `repository:${world.b}/private:pull`, "repository:nothing-here/x:pull"]);
        expect(jwtPayload(token).access).toEqual([{ type: "repository", name: app, actions: ["pull", "push"] }]);
        // The push it grants works, the delete it left out does not.
        await client.pushImage(app, "intersection", bearer(token));
        const del = await client.send("DELETE", `/v2/${app}/manifests/intersection`, bearer(token));
        await expectOciError(del, 401, "UNAUTHORIZED");
        expect(parseChallenge(del.headers.get("www-authenticate")).error).toBe("insufficient_scope");
        // A pull key asking for everything gets pull.
        const pullOnly = await client.token(world.aPull, [`repository:${app}:*`]);
        expect(jwtPayload(pullOnly.token).access).toEqual([{ type: "repository", name: app, actions: ["pull"] }]);
      });

      it("POST /token: password grant with access_type=offline gives a refresh token, which works until its key is revoked", async () => {
        const key = await client.createKey(world.a, "pull");
        const scope = `repository:${world.a}/app:pull`;
        const login = await client.oauth({ grant_type: "password", username: world.a, password: key.key, service: deployment!.service, scope, access_type: "offline", client_id: "test" });
        expect(login.status, await describeFailure(login)).toBe(200);
        expect(login.headers.get("cache-control")).toContain("no-store");
        const first = (await login.json()) as { access_token: string; refresh_token?: string };
        expect(typeof first.refresh_token).toBe("string");
        // Without access_type=offline: no refresh token.
        const online = (await (await client.oauth({ grant_type: "password", username: world.a, password: key.key, service: deployment!.service, scope })).json()) as Record<string, unknown>;
        expect(online.refresh_token).toBeUndefined();

        const refreshed = await client.oauth({ grant_type: "refresh_token", refresh_token: first.refresh_token!, service: deployment!.service, scope, client_id: "test" });
        expect(refreshed.status, await describeFailure(refreshed)).toBe(200);
        const second = (await refreshed.json()) as { access_token: string };
        expect(jwtPayload(second.access_token).access).toEqual([{ type: "repository", name: `${world.a}/app`, actions: ["pull"] }]);
        const pulled = await client.send("GET", `/v2/${world.a}/app/manifests/v1`, bearer(second.access_token));
        expect(pulled.status, await describeFailure(pulled)).toBe(200);
        // A refresh token is not an access token.
        const misused = await client.send("GET", `/v2/${world.a}/app/manifests/v1`, bearer(first.refresh_token!));
        expect(misused.status).toBe(401);
        expect(parseChallenge(misused.headers.get("www-authenticate")).error).toBe("invalid_token");

        await client.revokeKey(key);
        const afterRevoke = await client.oauth({ grant_type: "refresh_token", refresh_token: first.refresh_token!, service: deployment!.service, scope });
        expect(afterRevoke.status).toBe(401);
        expect(((await afterRevoke.json()) as { error: string }).error).toBe("invalid_grant");
        const password = await client.oauth({ grant_type: "password", username: world.a, password: key.key, service: deployment!.service, scope });
        expect(password.status).toBe(401);
      });

      it("Basic credentials straight to /v2/ work for pull and push", async () => {
        const base = await client.send("GET", "/v2/", basic(world.aPull));
        expect(base.status, await describeFailure(base)).toBe(200);
        const pulled = await client.send("GET", `/v2/${world.a}/app/manifests/v1`, basic(world.aPull));
        expect(pulled.status, await describeFailure(pulled)).toBe(200);
        await expectBlobReadable(client, `${world.a}/app`, world.aImage.layerDigest, basic(world.aPull));
        const pushed = await client.pushImage(`${world.a}/basic-push`, "v1", basic(world.aPush));
        const back = await client.send("GET", `/v2/${world.a}/basic-push/manifests/${pushed.manifestDigest}`, basic(world.aPull));
        expect(back.status, await describeFailure(back)).toBe(200);
        // The pull key cannot push that way either.
        const refused = await client.send("POST", `/v2/${world.a}/basic-push/blobs/uploads/`, basic(world.aPull));
        await expectOciError(refused, 403, "DENIED");
      });

      it("a key's last use shows in the key listing", async () => {
        const key = await client.createKey(world.a, "pull");
        expect((await client.listKeys(world.a)).find((k) => k.id === key.id)?.lastUsedAt).toBeNull();
        const before = Date.now();
        await client.token(key, [`repository:${world.a}/app:pull`]);
        // Recorded in the background, so that it never slows the request: wait for it.
        let lastUsedAt: string | null | undefined = null;
        for (let i = 0; i < 50 && !lastUsedAt; i++) {
          lastUsedAt = (await client.listKeys(world.a)).find((k) => k.id === key.id)?.lastUsedAt;
          if (!lastUsedAt) await sleep(100);
        }
        expect(lastUsedAt, "lastUsedAt after the key was used").toBeTruthy();
        expect(Date.parse(lastUsedAt!)).toBeGreaterThanOrEqual(before - 2000);
        expect(Date.parse(lastUsedAt!)).toBeLessThanOrEqual(Date.now() + 2000);
      });
    });

    describe("forged and misused tokens", () => {
      const claimsFor = (repository: string) => ({ sub: "key:forged", access: [{ type: "repository", name: repository, actions: ["pull", "push", "delete"] }] });
      /** Tenant a's generation, as a real token of a names it. */
      const generationOfA = async () => jwtPayload((await client.token(world.aPull, [`repository:${world.a}/app:pull`])).token).gen as Record<string, string>;

      /** A token as the deployment would sign it, with what the test chooses: key, times, issuer, tenant generations. */
      async function craft(options: { secrets?: string; kid?: string; exp?: number; iat?: number; service?: string; typ?: string; gen?: Record<string, string> | null } = {}) {
        const keys = await TokenKeySet.fromSecrets(options.secrets ?? deployment!.tokenSecrets);
        const ours = await TokenKeySet.fromSecrets(deployment!.tokenSecrets);
        const now = Math.floor(Date.now() / 1000);
        const iat = options.iat ?? now;
        const gen = options.gen === undefined ? await generationOfA() : options.gen;
        return new SignJWT({ ...claimsFor(`${world.a}/app`), ...(gen ? { gen } : {}) })
          .setProtectedHeader({ alg: "EdDSA", kid: options.kid ?? (options.secrets ? keys.signing.kid : ours.signing.kid), typ: options.typ ?? "at+jwt" })
          .setIssuer(options.service ?? deployment!.service)
          .setAudience(options.service ?? deployment!.service)
          .setIssuedAt(iat)
          .setNotBefore(iat)
          .setExpirationTime(options.exp ?? now + 300)
          .setJti(randomBytes(8).toString("hex"))
          .sign(keys.signing.privateKey);
      }

      const manifestWith = (token: string) => client.send("GET", `/v2/${world.a}/app/manifests/v1`, bearer(token));

      async function expectInvalidToken(res: Response) {
        await expectOciError(res, 401, "UNAUTHORIZED");
        expect(parseChallenge(res.headers.get("www-authenticate")).error).toBe("invalid_token");
      }

      it("a token crafted with the deployment's own key is accepted (the control for the forgeries below)", async () => {
        const res = await manifestWith(await craft());
        expect(res.status, await describeFailure(res)).toBe(200);
      });

      it("refuses a token of our key that names no generation of the tenant, or another one (issued before generations, or for a deleted tenant)", async () => {
        const stale = await manifestWith(await craft({ gen: null }));
        const { errors } = (await stale.clone().json()) as { errors: { message: string }[] };
        await expectInvalidToken(stale);
        expect(errors[0]!.message).toMatch(/log in again/);
        await expectInvalidToken(await manifestWith(await craft({ gen: { [world.a]: "not-the-current-one" } })));
        await expectInvalidToken(await manifestWith(await craft({ gen: { [world.b]: Object.values(await generationOfA())[0]! } })));
      });

      it("refuses alg none, with or without the deployment's kid", async () => {
        const now = Math.floor(Date.now() / 1000);
        const unsigned = new UnsecuredJWT(claimsFor(`${world.a}/app`)).setIssuer(deployment!.service).setAudience(deployment!.service).setIssuedAt(now).setExpirationTime(now + 300).encode();
        await expectInvalidToken(await manifestWith(unsigned));
        const kid = (await TokenKeySet.fromSecrets(deployment!.tokenSecrets)).signing.kid;
        const [, payload] = unsigned.split(".");
        for (const alg of ["none", "None", "NONE"]) {
          const header = Buffer.from(JSON.stringify({ alg, typ: "at+jwt", kid })).toString("base64url");
          await expectInvalidToken(await manifestWith(`${header}.${payload}.`));
        }
        // A real token's signature moved onto other claims.
        const real = (await client.token(world.aPull, [`repository:${world.a}/app:pull`])).token.split(".");
        await expectInvalidToken(await manifestWith(`${real[0]}.${payload}.${real[2]}`));
      });

      it("refuses an expired token signed with the deployment's own key", async () => {
        const now = Math.floor(Date.now() / 1000);
        await expectInvalidToken(await manifestWith(await craft({ iat: now - 900, exp: now - 600 })));
      });

      it("refuses a token signed by another key, under its own kid or the deployment's", async () => {
        const other = `other-deployment-${randomBytes(24).toString("base64url")}`;
        await expectInvalidToken(await manifestWith(await craft({ secrets: other })));
        const ourKid = (await TokenKeySet.fromSecrets(deployment!.tokenSecrets)).signing.kid;
        await expectInvalidToken(await manifestWith(await craft({ secrets: other, kid: ourKid })));
      });

      it("refuses a token of our key issued for another service, or typed as a refresh token", async () => {
        await expectInvalidToken(await manifestWith(await craft({ service: "another-registry" })));
        await expectInvalidToken(await manifestWith(await craft({ typ: "rt+jwt" })));
      });

      it("a pull token cannot push: blob POST and manifest PUT answer 401 insufficient_scope", async () => {
        const app = `${world.a}/app`;
        const { token } = await client.token(world.aPush, [`repository:${app}:pull`]);
        const post = await client.send("POST", `/v2/${app}/blobs/uploads/`, bearer(token));
        await expectOciError(post, 401, "UNAUTHORIZED");
        expect(parseChallenge(post.headers.get("www-authenticate"))).toMatchObject({ error: "insufficient_scope", scope: `repository:${app}:pull,push` });
        const monolithic = await client.send("POST", `/v2/${app}/blobs/uploads/?digest=${sha256(new Uint8Array([1]))}`, bearer(token), { body: new Uint8Array([1]) });
        expect(monolithic.status).toBe(401);
        const put = await client.putManifest(app, "from-pull-token", world.aImage.manifest, bearer(token));
        await expectOciError(put, 401, "UNAUTHORIZED");
        expect(parseChallenge(put.headers.get("www-authenticate")).error).toBe("insufficient_scope");
        const del = await client.send("DELETE", `/v2/${app}/manifests/${world.aImage.manifestDigest}`, bearer(token));
        expect(del.status).toBe(401);
        const tag = await client.send("GET", `/v2/${app}/manifests/from-pull-token`, bearer(token));
        expect(tag.status).toBe(404);
      });
    });

    describe("tenant isolation", () => {
      /** Every way into b/private, with the given credentials: each must be refused, and b's image stay intact. */
      async function expectLockedOut(auth: string, refusal: (res: Response) => Promise<void>) {
        const priv = `${world.b}/private`;
        const { manifestDigest, layerDigest, manifest } = world.bPrivate;
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
          ["PUT", `/v2/${priv}/manifests/v1`, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: world.aImage.manifest as Uint8Array<ArrayBuffer> }],
          ["DELETE", `/v2/${priv}/manifests/${manifestDigest}`],
          ["DELETE", `/v2/${priv}/manifests/v1`],
          ["DELETE", `/v2/${priv}/blobs/${layerDigest}`],
        ];
        for (const [method, path, init] of attempts) {
          const res = await client.send(method, path, auth, init);
          if (method === "HEAD") expect([401, 403], `${method} ${path}`).toContain(res.status);
          else await refusal(res);
        }
        // b's image is as pushed, and its tag list shows nothing added.
        const owner = basic(world.bPush);
        const back = await client.send("GET", `/v2/${priv}/manifests/v1`, owner);
        expect(back.status).toBe(200);
        expect(back.headers.get("docker-content-digest")).toBe(manifestDigest);
        await expectBlobReadable(client, priv, layerDigest, owner);
        const tags = await client.send("GET", `/v2/${priv}/tags/list`, owner);
        expect(((await tags.json()) as { tags: string[] }).tags).toEqual(["v1"]);
      }

      it("tenant a's key (role delete) gets nothing of b's private repository: read, list, write, delete", async () => {
        await expectLockedOut(basic(world.aDelete), async (res) => {
          await expectOciError(res, 403, "DENIED");
        });
        // Nor with b's tenant id as the username: the key names its tenant, not the username.
        await expectLockedOut(basic(world.aDelete, world.b), async (res) => {
          await expectOciError(res, 403, "DENIED");
        });
      });

      it("tenant a's token asked for b's private repository grants nothing there", async () => {
        const priv = `${world.b}/private`;
        const { token } = await client.token(world.aAdmin, [`repository:${priv}:pull,push,delete`, `repository:${world.a}/app:pull`]);
        expect(jwtPayload(token).access).toEqual([{ type: "repository", name: `${world.a}/app`, actions: ["pull"] }]);
        await expectLockedOut(bearer(token), async (res) => {
          await expectOciError(res, 401, "UNAUTHORIZED");
          expect(parseChallenge(res.headers.get("www-authenticate")).error).toBe("insufficient_scope");
        });
      });

      it("a tenant's key cannot push to another tenant's public repository", async () => {
        const pub = `${world.b}/public`;
        const { token } = await client.token(world.aAdmin, [`repository:${pub}:pull,push,delete`]);
        expect(jwtPayload(token).access).toEqual([{ type: "repository", name: pub, actions: ["pull"] }]);
        const post = await client.send("POST", `/v2/${pub}/blobs/uploads/`, bearer(token));
        expect(post.status).toBe(401);
        const basicPost = await client.send("POST", `/v2/${pub}/blobs/uploads/`, basic(world.aAdmin));
        await expectOciError(basicPost, 403, "DENIED");
        const del = await client.send("DELETE", `/v2/${pub}/manifests/${world.bPublic.manifestDigest}`, basic(world.aAdmin));
        await expectOciError(del, 403, "DENIED");
      });

      it("a mount's challenge names its source repository: following it mounts within the tenant (201), never across tenants (202)", async () => {
        const target = `${world.a}/mount-target`;
        for (const [from, digest, expected] of [
          [`${world.a}/app`, world.aImage.layerDigest, 201],
          [`${world.b}/private`, world.bPrivate.layerDigest, 202],
          [`${world.b}/public`, world.bPublic.layerDigest, 202],
        ] as const) {
          const path = `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`;
          const first = await client.send("POST", path, undefined);
          await expectOciError(first, 401, "UNAUTHORIZED");
          const challenge = parseChallenge(first.headers.get("www-authenticate"));
          expect(challenge.scope!.split(" ")).toEqual([`repository:${target}:pull,push`, `repository:${from}:pull`]);
          // As docker and containerd do: ask /token for every scope of the challenge, then retry.
          const { token } = await client.token(world.aPush, challenge.scope!.split(" "));
          const retried = await client.send("POST", path, bearer(token));
          expect(retried.status, await describeFailure(retried)).toBe(expected);
          const head = await client.send("HEAD", `/v2/${target}/blobs/${digest}`, bearer(token));
          expect(head.status).toBe(expected === 201 ? 200 : 404);
        }
      });

      it("a mount from another tenant's repository never mounts: 202 and an upload session, not 201", async () => {
        const target = `${world.a}/mounted`;
        for (const [from, digest] of [
          [`${world.b}/private`, world.bPrivate.layerDigest],
          // Public or not: blobs never cross tenants (the caller may pull b/public, yet gets no link).
          [`${world.b}/public`, world.bPublic.layerDigest],
        ] as const) {
          for (const auth of [basic(world.aPush), bearer((await client.token(world.aPush, [`repository:${target}:pull,push`, `repository:${from}:pull`])).token)]) {
            const res = await client.send("POST", `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`, auth);
            expect(res.status, await describeFailure(res)).toBe(202);
            expect(res.headers.get("location")).toMatch(new RegExp(`/v2/${target}/blobs/uploads/`));
            const head = await client.send("HEAD", `/v2/${target}/blobs/${digest}`, auth);
            expect(head.status).toBe(404);
          }
        }
        // Nor does naming b's blob in a's own repository, or in a manifest pushed to a, reach it.
        const own = await client.send("GET", `/v2/${world.a}/app/blobs/${world.bPrivate.layerDigest}`, basic(world.aPush), { redirect: "manual" });
        await expectOciError(own, 404, "BLOB_UNKNOWN");
        const borrowed = await client.putManifest(`${world.a}/borrowed`, "v1", world.bPrivate.manifest, basic(world.aPush));
        await expectOciError(borrowed, 400, "MANIFEST_BLOB_UNKNOWN");
      });

      it("an upload session of b's cannot be continued from a's repository", async () => {
        const start = await client.send("POST", `/v2/${world.b}/private/blobs/uploads/`, basic(world.bPush));
        expect(start.status).toBe(202);
        const location = new URL(start.headers.get("location")!, `${client.url}/`);
        const id = location.pathname.split("/").at(-1)!;
        const bytes = new Uint8Array([1, 2, 3]);
        const hijack = `/v2/${world.a}/app/blobs/uploads/${id}`;
        const status = await client.send("GET", hijack, basic(world.aPush));
        await expectOciError(status, 404, "BLOB_UPLOAD_UNKNOWN");
        const patch = await client.send("PATCH", hijack, basic(world.aPush), { headers: { "content-type": "application/octet-stream" }, body: bytes });
        await expectOciError(patch, 404, "BLOB_UPLOAD_UNKNOWN");
        const put = await client.send("PUT", `${hijack}?digest=${sha256(bytes)}`, basic(world.aPush), { body: bytes });
        await expectOciError(put, 404, "BLOB_UPLOAD_UNKNOWN");
        const direct = await client.send("PATCH", location.toString(), basic(world.aPush), { headers: { "content-type": "application/octet-stream" }, body: bytes });
        await expectOciError(direct, 403, "DENIED");
      });

      it("the catalog shows a caller its own tenant's repositories and public ones, never another tenant's private ones", async () => {
        const listWith = async (auth: string) => {
          const res = await client.send("GET", "/v2/_catalog?n=1000", auth);
          expect(res.status, await describeFailure(res)).toBe(200);
          return ((await res.json()) as { repositories: string[] }).repositories;
        };
        const { token } = await client.token(world.aPull, ["registry:catalog:*"]);
        for (const seen of [await listWith(bearer(token)), await listWith(basic(world.aPull))]) {
          expect(seen).toContain(`${world.a}/app`);
          expect(seen).toContain(`${world.b}/public`);
          expect(seen).not.toContain(`${world.b}/private`);
          expect(seen.filter((n) => n.startsWith(`${world.b}/`))).toEqual([`${world.b}/public`]);
        }
        const anonymous = await listWith(bearer((await client.token(undefined, ["registry:catalog:*"])).token));
        expect(anonymous).toContain(`${world.b}/public`);
        expect(anonymous.filter((n) => n.startsWith(`${world.a}/`) || n === `${world.b}/private`)).toEqual([]);
        // A token without the catalog scope does not list.
        const noScope = await client.send("GET", "/v2/_catalog", bearer((await client.token(world.aPull, [`repository:${world.a}/app:pull`])).token));
        expect(noScope.status).toBe(401);
        // ...and its challenge names the scope to ask for, so a client can get it.
        expect(noScope.headers.get("www-authenticate")).toContain('scope="registry:catalog:*",error="insufficient_scope"');
      });

      it("tenant a's admin key cannot administer tenant b", async () => {
        const asA = basic(world.aAdmin);
        const b = world.b;
        const attempts: [string, string, unknown?][] = [
          ["GET", `/admin/v1/tenants/${b}`],
          ["GET", `/admin/v1/tenants/${b}/keys`],
          ["POST", `/admin/v1/tenants/${b}/keys`, { role: "admin" }],
          ["DELETE", `/admin/v1/tenants/${b}/keys/${world.bPush.id}`],
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
          const res = await client.admin(method, path, body, asA);
          expect(res.status, `${method} ${path}: ${await describeFailure(res)}`).toBe(403);
          expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("DENIED");
        }
        // A key of a limited to b's repositories is refused too.
        const crafted = await client.admin("POST", `/admin/v1/tenants/${world.a}/keys`, { role: "push", repositories: [`${b}/**`] }, asA);
        expect(crafted.status).toBe(400);
        // Nothing changed: b's key works, b/private is private.
        await client.pushImage(`${b}/still-mine`, "v1", basic(world.bPush));
        const anonymous = await client.token(undefined, [`repository:${b}/private:pull`]);
        expect(jwtPayload(anonymous.token).access).toEqual([]);
      });
    });

    describe("names that try to leave a namespace", () => {
      it("dot segments in the raw path are refused, not resolved into another tenant", async () => {
        const auth = basic(world.aDelete);
        for (const target of [
          `/v2/${world.a}/../${world.b}/private/manifests/v1`,
          `/v2/${world.a}/app/../../${world.b}/private/manifests/v1`,
          `/v2/${world.a}/%2e%2e/${world.b}/private/manifests/v1`,
          `/v2/${world.a}/%2E%2E/${world.b}/private/blobs/${world.bPrivate.layerDigest}`,
          `/v2/${world.a}/./app/manifests/v1`,
          // The URL parser turns "\" into "/" after the dot-segment check would have run.
          `/v2/${world.a}/..\\${world.b}/private/tags/list`,
          `/v2/${world.a}/..\\${world.b}/private/manifests/v1`,
          `/v2/${world.a}\\..\\${world.b}/private/manifests/v1`,
          `/v2/${world.a}/%5C..%5C${world.b}/private/manifests/v1`,
          `/v2/${world.a}/%5c/../${world.b}/private/manifests/v1`,
          `/v2/${world.a}/%252e%252e/${world.b}/private/manifests/v1`,
        ]) {
          const res = await rawRequest(client.url, "GET", target, { authorization: auth });
          expect(res.status, `${target}: ${res.body}`).toBe(400);
          expect(JSON.parse(res.body).errors[0].code, target).toBe("NAME_INVALID");
        }
        const del = await rawRequest(client.url, "DELETE", `/v2/${world.a}/../${world.b}/private/manifests/${world.bPrivate.manifestDigest}`, { authorization: auth });
        expect(del.status).toBe(400);
        // The same before /token and the admin API, whose path rules a proxy may also enforce.
        for (const target of [`/token\\..\\admin/v1/tenants`, `/admin/v1/tenants/${world.a}\\..\\${world.b}`, `/admin/v1/tenants/${world.a}/%2e%2e/${world.b}`, `/admin\\v1/tenants`]) {
          const res = await rawRequest(client.url, "GET", target, { authorization: basic(world.aAdmin) });
          expect(res.status, `${target}: ${res.body}`).toBe(400);
          expect(res.body).not.toContain(world.b + "\"");
        }
      });

      it("percent-encoded slashes, upper case and overlong names are NAME_INVALID", async () => {
        const auth = basic(world.aDelete);
        for (const name of [
          `${world.a}%2F..%2F${world.b}%2Fprivate`,
          `${world.a}%2f..%2f${world.b}%2fprivate`,
          `${world.b}%2Fprivate`,
          `${world.a.toUpperCase()}/app`,
          `${world.b.toUpperCase()}/private`,
          `${world.a}/${"x".repeat(260)}`,
        ]) {
          const res = await rawRequest(client.url, "GET", `/v2/${name}/manifests/v1`, { authorization: auth });
          expect(res.status, `${name}: ${res.body}`).toBe(400);
          expect(JSON.parse(res.body).errors[0].code, name).toBe("NAME_INVALID");
        }
      });

      it("one-component names are NAME_INVALID with the <namespace>/<name> hint", async () => {
        for (const [method, path] of [
          ["GET", "/v2/app/manifests/v1"],
          ["POST", "/v2/app/blobs/uploads/"],
          ["GET", `/v2/${world.a}/tags/list`],
        ] as const) {
          const res = await client.send(method, path, basic(world.aPush));
          const error = await expectOciError(res, 400, "NAME_INVALID");
          expect(error.message).toContain("<namespace>/<name>");
        }
      });

      it("crafted names in token scopes grant nothing", async () => {
        const b = world.b;
        const { token } = await client.token(world.aDelete, [
          `repository:${world.a}/../${b}/private:pull,push,delete`,
          `repository:${world.a}/app/../../${b}/private:pull`,
          `repository:${world.a}%2F..%2F${b}%2Fprivate:pull`,
          `repository:${world.a}/%2e%2e/${b}/private:pull`,
          `repository:${b.toUpperCase()}/private:pull`,
          `repository:${world.a.toUpperCase()}/app:pull`,
          `repository:${world.a}/${"x".repeat(260)}:pull`,
          `repository:${world.a}:pull,push`,
          `repository:${world.a}/app:pull:${b}/private:pull`,
          `repository:${world.a}/app\n${b}/private:pull`,
          `repository(plugin):${b}/private:pull`,
          `registry:${b}/private:pull`,
        ]);
        expect(jwtPayload(token).access).toEqual([]);
        for (const repo of [`${b}/private`, `${world.a}/app`]) {
          const res = await client.send("GET", `/v2/${repo}/manifests/v1`, bearer(token));
          expect(res.status, repo).toBe(401);
        }
      });
    });

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
          for (const path of ["/v2/", `/v2/${world.a}/app/manifests/v1`, `/token?scope=repository:${world.a}/app:pull`, `/admin/v1/tenants/${world.a}`]) {
            const res = await client.send("GET", path, header);
            expect(res.status, `${what} on ${path}: ${await describeFailure(res)}`).toBe(401);
          }
        }
      });

      it("POST /token with an oversized form: 413 with an OAuth2 invalid_request, no token", async () => {
        const res = await client.oauth({ grant_type: "password", username: world.a, password: world.aPull.key, service: deployment!.service, scope: `repository:${world.a}/app:pull`, pad: "x".repeat(64 * 1024) });
        expect(res.status, await describeFailure(res)).toBe(413);
        const body = (await res.json()) as Record<string, unknown>;
        expect(body.error).toBe("invalid_request");
        expect(String(body.error_description)).toMatch(/larger than \d+ bytes/);
        expect(body.token).toBeUndefined();
        expect(JSON.stringify(body)).not.toContain("MANIFEST");
      });

      it("a revoked key is refused everywhere at once", async () => {
        const key = await client.createKey(world.a, "admin");
        const ok = await client.send("GET", `/v2/${world.a}/app/manifests/v1`, basic(key));
        expect(ok.status).toBe(200);
        await client.revokeKey(key);
        const direct = await client.send("GET", `/v2/${world.a}/app/manifests/v1`, basic(key));
        await expectOciError(direct, 401, "UNAUTHORIZED");
        const token = await client.send("GET", `/token?scope=repository:${world.a}/app:pull`, basic(key));
        expect(token.status).toBe(401);
        const admin = await client.admin("GET", `/admin/v1/tenants/${world.a}/keys`, undefined, basic(key));
        expect(admin.status).toBe(401);
        const listed = (await client.listKeys(world.a)).find((k) => k.id === key.id);
        expect(listed?.revokedAt).toBeTruthy();
      });

      it("a deleted tenant's tokens, key and refresh token get nothing of a new tenant of the same name, and leave nothing there", async () => {
        const name = uniqueTenant("re");
        const app = `${name}/app`;
        const service = deployment!.service;
        await client.createTenant(name);
        const key = await client.createKey(name, "delete");
        const scope = `repository:${app}:pull,push,delete`;
        const { token } = await client.token(key, [scope, "registry:catalog:*"]);
        const login = await client.oauth({ grant_type: "password", username: name, password: key.key, service, scope, access_type: "offline" });
        const refreshToken = ((await login.json()) as { refresh_token: string }).refresh_token;
        // The control: while its tenant lives the token is good (the repository is merely unknown yet).
        await expectOciError(await client.send("GET", `/v2/${app}/tags/list`, bearer(token)), 404, "NAME_UNKNOWN");

        const gone = await client.admin("DELETE", `/admin/v1/tenants/${name}`);
        expect(gone.status, await describeFailure(gone)).toBe(204);
        await client.createTenant(name);

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
          const res = await client.send(method, path, bearer(token), init);
          const error = await expectOciError(res, 401, "UNAUTHORIZED");
          expect(parseChallenge(res.headers.get("www-authenticate")).error, `${method} ${path}`).toBe("invalid_token");
          expect(error.message, `${method} ${path}`).toMatch(/deleted/);
        }
        // The old key and its refresh token are gone with the tenant.
        await expectOciError(await client.send("POST", `/v2/${app}/blobs/uploads/`, basic(key)), 401, "UNAUTHORIZED");
        expect((await client.send("GET", `/token?service=${service}&scope=${scope}`, basic(key))).status).toBe(401);
        const refreshed = await client.oauth({ grant_type: "refresh_token", refresh_token: refreshToken, service, scope });
        expect(refreshed.status).toBe(401);

        // Nothing was written into the new tenant: no repository, no bytes, no upload session.
        const usage = (await (await client.admin("GET", `/admin/v1/tenants/${name}/usage`)).json()) as {
          repositories: { used: number }; storedBytes: { used: number }; uploadSessions?: { used: number };
        };
        expect(usage.repositories.used).toBe(0);
        expect(usage.storedBytes.used).toBe(0);
        expect(usage.uploadSessions?.used ?? 0).toBe(0);
        const listed = await client.admin("GET", `/admin/v1/tenants/${name}/repositories`);
        expect(((await listed.json()) as { repositories: unknown[] }).repositories).toEqual([]);

        // The new tenant's own key works, and the old token still gets nothing of what it pushed.
        const fresh = await client.createKey(name, "push");
        const image = await client.pushImage(app, "v1", bearer((await client.token(fresh, [`repository:${app}:pull,push`])).token));
        const stolen = await client.send("GET", `/v2/${app}/manifests/${image.manifestDigest}`, bearer(token));
        await expectOciError(stolen, 401, "UNAUTHORIZED");
      });

      it("a key limited to repository patterns cannot touch its tenant's other repositories", async () => {
        const key = await client.createKey(world.a, "delete", [`${world.a}/web/*`]);
        await client.pushImage(`${world.a}/web/api`, "v1", basic(key));
        for (const [method, path] of [
          ["GET", `/v2/${world.a}/app/manifests/v1`],
          ["POST", `/v2/${world.a}/other/blobs/uploads/`],
          ["POST", `/v2/${world.a}/web/api/extra/blobs/uploads/`],
          ["DELETE", `/v2/${world.a}/app/manifests/${world.aImage.manifestDigest}`],
        ] as const) {
          const res = await client.send(method, path, basic(key));
          await expectOciError(res, 403, "DENIED");
        }
        const { token } = await client.token(key, [`repository:${world.a}/app:pull`, `repository:${world.a}/web/api:pull,push`, `repository:${world.a}/web:pull`]);
        expect(jwtPayload(token).access).toEqual([{ type: "repository", name: `${world.a}/web/api`, actions: ["pull", "push"] }]);
        // Mounting from a repository outside the patterns falls back to an upload session.
        const mount = await client.send("POST", `/v2/${world.a}/web/mounted/blobs/uploads/?mount=${world.aImage.layerDigest}&from=${world.a}/app`, basic(key));
        expect(mount.status).toBe(202);
        // Its catalog shows its patterns' repositories of its tenant, and public ones.
        const catalog = await client.send("GET", "/v2/_catalog?n=1000", bearer((await client.token(key, ["registry:catalog:*"])).token));
        const repositories = ((await catalog.json()) as { repositories: string[] }).repositories;
        expect(repositories.filter((n) => n.startsWith(`${world.a}/`))).toEqual([`${world.a}/web/api`]);
      });

      it("anonymous callers cannot push, even to a public repository", async () => {
        const pub = `${world.b}/public`;
        const { token } = await client.token(undefined, [`repository:${pub}:pull,push,delete`]);
        expect(jwtPayload(token).access).toEqual([{ type: "repository", name: pub, actions: ["pull"] }]);
        for (const auth of [bearer(token), undefined]) {
          const post = await client.send("POST", `/v2/${pub}/blobs/uploads/`, auth);
          await expectOciError(post, 401, "UNAUTHORIZED");
          const put = await client.putManifest(pub, "anonymous", world.bPublic.manifest, auth);
          expect(put.status).toBe(401);
          const del = await client.send("DELETE", `/v2/${pub}/manifests/${world.bPublic.manifestDigest}`, auth);
          expect(del.status).toBe(401);
        }
        // Nor with the password grant and no valid key.
        const login = await client.oauth({ grant_type: "password", username: world.b, password: "", scope: `repository:${pub}:push` });
        expect(login.status).toBe(401);
      });
    });

    describe("plans", () => {
      it("with a plan of 1 repository the second repository's push is refused 403 DENIED naming the limit; deleting the repository frees it", async () => {
        const plan = `one-repo-${randomBytes(3).toString("hex")}`;
        await client.putPlan(plan, { repositories: 1, storedBytes: null, manifestsPerRepository: null });
        const tenant = await client.createTenant(uniqueTenant("p"), plan);
        const key = await client.createKey(tenant, "delete");
        const first = await client.pushImage(`${tenant}/first`, "v1", basic(key));

        const expectRepositoryLimit = async (res: Response) => {
          const error = await expectOciError(res, 403, "DENIED");
          expect(error.message).toMatch(/1 of its 1 repositories/);
          expect(error.detail).toMatchObject({ limit: "repositories", max: 1, usage: 1 });
        };
        const blob = new Uint8Array(randomBytes(16));
        await expectRepositoryLimit(await client.send("POST", `/v2/${tenant}/second/blobs/uploads/?digest=${sha256(blob)}`, basic(key), { body: blob }));
        // Nor by mounting a blob the tenant has, nor by a manifest alone (an empty image).
        await expectRepositoryLimit(await client.send("POST", `/v2/${tenant}/second/blobs/uploads/?mount=${first.layerDigest}&from=${tenant}/first`, basic(key)));
        const head = await client.send("HEAD", `/v2/${tenant}/second/blobs/${first.layerDigest}`, basic(key));
        expect(head.status).toBe(404);
        // The first repository takes more.
        await client.pushImage(`${tenant}/first`, "v2", basic(key));

        // Deleting a manifest gives its bytes back but keeps the repository: its slot stays taken.
        const del = await client.send("DELETE", `/v2/${tenant}/first/manifests/${first.manifestDigest}`, basic(key));
        expect(del.status, await describeFailure(del)).toBe(202);
        const usageOf = async () => (await (await client.admin("GET", `/admin/v1/tenants/${tenant}/usage`)).json()) as { repositories: { used: number }; storedBytes: { used: number } };
        expect((await usageOf()).repositories.used).toBe(1);
        await expectRepositoryLimit(await client.send("POST", `/v2/${tenant}/second/blobs/uploads/?digest=${sha256(blob)}`, basic(key), { body: blob }));

        // Deleting the repository (admin API) gives the slot and every byte back: the push now succeeds.
        const gone = await client.admin("DELETE", `/admin/v1/repositories/${tenant}/first`);
        expect(gone.status, await describeFailure(gone)).toBe(204);
        expect(await usageOf()).toMatchObject({ repositories: { used: 0 }, storedBytes: { used: 0 } });
        await client.pushImage(`${tenant}/second`, "v1", basic(key));
        expect((await usageOf()).repositories.used).toBe(1);
      });

      it("a plan bounds open upload sessions and counts their staged bytes: refusals name the limit and leave nothing", async () => {
        const plan = `uploads-${randomBytes(3).toString("hex")}`;
        await client.putPlan(plan, { repositories: null, storedBytes: 1_000, manifestsPerRepository: null, uploadSessions: 2 });
        const tenant = await client.createTenant(uniqueTenant("u"), plan);
        const key = await client.createKey(tenant, "push");
        const post = () => client.send("POST", `/v2/${tenant}/app/blobs/uploads/`, basic(key));
        const [first, second] = [await post(), await post()];
        expect([first.status, second.status]).toEqual([202, 202]);
        const refused = await expectOciError(await post(), 403, "DENIED");
        expect(refused.message).toMatch(/^tenant \S+ has 2 of its 2 upload sessions open/);
        expect(refused.detail).toMatchObject({ limit: "uploadSessions", max: 2, usage: 2 });

        // A chunk past the plan's bytes is refused, and the session goes with what it staged.
        const location = new URL(first.headers.get("location")!, `${client.url}/`).toString();
        const chunk = await client.send("PATCH", location, basic(key), { headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(1_001) });
        expect((await expectOciError(chunk, 403, "DENIED")).detail).toMatchObject({ limit: "storedBytes", max: 1_000, usage: 0 });
        await expectOciError(await client.send("GET", location, basic(key)), 404, "BLOB_UPLOAD_UNKNOWN");
        const usage = (await (await client.admin("GET", `/admin/v1/tenants/${tenant}/usage`)).json()) as Record<string, unknown>;
        expect(usage).toMatchObject({ uploadSessions: { used: 1, limit: 2 }, stagedBytes: { used: 0 }, storedBytes: { used: 0 } });
        // The freed place takes a new session.
        expect((await post()).status).toBe(202);
      });
    });
  });
}

// ---- Helpers ----

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The parameters of a WWW-Authenticate challenge: `Bearer realm="…",service="…",scope="…",error="…"`. */
function parseChallenge(header: string | null): Record<string, string | undefined> & { scheme: string } {
  expect(header, "WWW-Authenticate").toBeTruthy();
  const [scheme, rest = ""] = header!.split(/ (.*)/s);
  const params: Record<string, string> = {};
  for (const m of rest.matchAll(/([a-z_]+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme: scheme!, ...params };
}

/** A blob GET succeeds: 200 with the bytes, or 307 to storage (the Lambda's presigned S3 URL). */
async function expectBlobReadable(client: MultiTenantClient, repository: string, digest: string, auth: string): Promise<void> {
  const res = await client.send("GET", `/v2/${repository}/blobs/${digest}`, auth, { redirect: "manual" });
  expect([200, 307], await describeFailure(res)).toContain(res.status);
  const bytes = res.status === 200 ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array(await (await fetch(res.headers.get("location")!)).arrayBuffer());
  expect(sha256(bytes)).toBe(digest);
}
