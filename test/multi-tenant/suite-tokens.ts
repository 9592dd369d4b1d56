import { randomBytes } from "node:crypto";
import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { TokenKeySet } from "@stratus/core";
import { describeFailure, expectOciError } from "../http-api/client.ts";
import { basic, bearer, jwtPayload, sha256 } from "./deployment.ts";
import { expectBlobReadable, parseChallenge, sleep, type SuiteContext } from "./suite-support.ts";

// Part of the multi-tenant suite (suite.ts): The Docker token flow end to end, and tokens forged or misused.
export function tokenTests(t: SuiteContext): void {
  describe("the Docker token flow", () => {
    it("GET /v2/ without credentials: 401 with the Bearer challenge naming the realm and service", async () => {
      const res = await t.client.send("GET", "/v2/", undefined);
      await expectOciError(res, 401, "UNAUTHORIZED");
      expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="${t.client.url}/token",service="${t.deployment!.service}"`);
    });

    it("repository requests add the scope they need, and a token from that challenge opens them", async () => {
      const app = `${t.world.a}/app`;
      const pull = await t.client.send("GET", `/v2/${app}/manifests/v1`, undefined);
      await expectOciError(pull, 401, "UNAUTHORIZED");
      const challenge = parseChallenge(pull.headers.get("www-authenticate"));
      expect(challenge).toEqual({ scheme: "Bearer", realm: `${t.client.url}/token`, service: t.deployment!.service, scope: `repository:${app}:pull` });
      const push = await t.client.send("POST", `/v2/${app}/blobs/uploads/`, undefined);
      expect(push.status).toBe(401);
      expect(parseChallenge(push.headers.get("www-authenticate")).scope).toBe(`repository:${app}:pull,push`);
      const del = await t.client.send("DELETE", `/v2/${app}/manifests/${t.world.aImage.manifestDigest}`, undefined);
      expect(del.status).toBe(401);
      expect(parseChallenge(del.headers.get("www-authenticate")).scope).toBe(`repository:${app}:delete`);

      // As a t.client does: the realm, with service and scope from the challenge, and the key as Basic.
      const realm = new URL(challenge.realm!);
      realm.searchParams.set("service", challenge.service!);
      realm.searchParams.set("scope", challenge.scope!);
      const tokenRes = await t.client.send("GET", realm.toString(), basic(t.world.aPull));
      expect(tokenRes.status, await describeFailure(tokenRes)).toBe(200);
      const body = (await tokenRes.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
      expect(body.access_token).toBe(body.token);
      expect(body.expires_in).toBeGreaterThan(0);
      expect(Number.isNaN(Date.parse(body.issued_at))).toBe(false);
      const retried = await t.client.send("GET", `/v2/${app}/manifests/v1`, bearer(body.token), { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
      expect(retried.status, await describeFailure(retried)).toBe(200);
      expect(new Uint8Array(await retried.arrayBuffer())).toEqual(t.world.aImage.manifest);
    });

    it("anonymous GET /token gives a token that pulls a public repository and nothing private", async () => {
      const pub = `${t.world.b}/public`;
      const priv = `${t.world.b}/private`;
      const { token } = await t.client.token(undefined, [`repository:${pub}:pull`, `repository:${priv}:pull`]);
      expect(jwtPayload(token).access).toEqual([{ type: "repository", name: pub, actions: ["pull"] }]);
      const manifest = await t.client.send("GET", `/v2/${pub}/manifests/v1`, bearer(token));
      expect(manifest.status, await describeFailure(manifest)).toBe(200);
      await expectBlobReadable(t.client, pub, t.world.bPublic.layerDigest, bearer(token));

      const refused = await t.client.send("GET", `/v2/${priv}/manifests/v1`, bearer(token));
      await expectOciError(refused, 401, "UNAUTHORIZED");
      const challenge = parseChallenge(refused.headers.get("www-authenticate"));
      expect(challenge.error).toBe("insufficient_scope");
      expect(challenge.scope).toBe(`repository:${priv}:pull`);
      const blob = await t.client.send("GET", `/v2/${priv}/blobs/${t.world.bPrivate.layerDigest}`, bearer(token), { redirect: "manual" });
      expect(blob.status).toBe(401);
    });

    it("a token grants exactly the intersection of what was asked and what the key allows", async () => {
      const app = `${t.world.a}/app`;
      const { token } = await t.client.token(t.world.aPush, [`repository:${app}:pull,push,delete`, `repository:${t.world.b}/private:pull`, "repository:nothing-here/x:pull"]);
      expect(jwtPayload(token).access).toEqual([{ type: "repository", name: app, actions: ["pull", "push"] }]);
      // The push it grants works, the delete it left out does not.
      await t.client.pushImage(app, "intersection", bearer(token));
      const del = await t.client.send("DELETE", `/v2/${app}/manifests/intersection`, bearer(token));
      await expectOciError(del, 401, "UNAUTHORIZED");
      expect(parseChallenge(del.headers.get("www-authenticate")).error).toBe("insufficient_scope");
      // A pull key asking for everything gets pull.
      const pullOnly = await t.client.token(t.world.aPull, [`repository:${app}:*`]);
      expect(jwtPayload(pullOnly.token).access).toEqual([{ type: "repository", name: app, actions: ["pull"] }]);
    });

    it("POST /token: password grant with access_type=offline gives a refresh token, which works until its key is revoked", async () => {
      const key = await t.client.createKey(t.world.a, "pull");
      const scope = `repository:${t.world.a}/app:pull`;
      const login = await t.client.oauth({ grant_type: "password", username: t.world.a, password: key.key, service: t.deployment!.service, scope, access_type: "offline", client_id: "test" });
      expect(login.status, await describeFailure(login)).toBe(200);
      expect(login.headers.get("cache-control")).toContain("no-store");
      const first = (await login.json()) as { access_token: string; refresh_token?: string };
      expect(typeof first.refresh_token).toBe("string");
      // Without access_type=offline: no refresh token.
      const online = (await (await t.client.oauth({ grant_type: "password", username: t.world.a, password: key.key, service: t.deployment!.service, scope })).json()) as Record<string, unknown>;
      expect(online.refresh_token).toBeUndefined();

      const refreshed = await t.client.oauth({ grant_type: "refresh_token", refresh_token: first.refresh_token!, service: t.deployment!.service, scope, client_id: "test" });
      expect(refreshed.status, await describeFailure(refreshed)).toBe(200);
      const second = (await refreshed.json()) as { access_token: string };
      expect(jwtPayload(second.access_token).access).toEqual([{ type: "repository", name: `${t.world.a}/app`, actions: ["pull"] }]);
      const pulled = await t.client.send("GET", `/v2/${t.world.a}/app/manifests/v1`, bearer(second.access_token));
      expect(pulled.status, await describeFailure(pulled)).toBe(200);
      // A refresh token is not an access token.
      const misused = await t.client.send("GET", `/v2/${t.world.a}/app/manifests/v1`, bearer(first.refresh_token!));
      expect(misused.status).toBe(401);
      expect(parseChallenge(misused.headers.get("www-authenticate")).error).toBe("invalid_token");

      await t.client.revokeKey(key);
      const afterRevoke = await t.client.oauth({ grant_type: "refresh_token", refresh_token: first.refresh_token!, service: t.deployment!.service, scope });
      expect(afterRevoke.status).toBe(401);
      expect(((await afterRevoke.json()) as { error: string }).error).toBe("invalid_grant");
      const password = await t.client.oauth({ grant_type: "password", username: t.world.a, password: key.key, service: t.deployment!.service, scope });
      expect(password.status).toBe(401);
    });

    it("Basic credentials straight to /v2/ work for pull and push", async () => {
      const base = await t.client.send("GET", "/v2/", basic(t.world.aPull));
      expect(base.status, await describeFailure(base)).toBe(200);
      const pulled = await t.client.send("GET", `/v2/${t.world.a}/app/manifests/v1`, basic(t.world.aPull));
      expect(pulled.status, await describeFailure(pulled)).toBe(200);
      await expectBlobReadable(t.client, `${t.world.a}/app`, t.world.aImage.layerDigest, basic(t.world.aPull));
      const pushed = await t.client.pushImage(`${t.world.a}/basic-push`, "v1", basic(t.world.aPush));
      const back = await t.client.send("GET", `/v2/${t.world.a}/basic-push/manifests/${pushed.manifestDigest}`, basic(t.world.aPull));
      expect(back.status, await describeFailure(back)).toBe(200);
      // The pull key cannot push that way either.
      const refused = await t.client.send("POST", `/v2/${t.world.a}/basic-push/blobs/uploads/`, basic(t.world.aPull));
      await expectOciError(refused, 403, "DENIED");
    });

    it("a key's last use shows in the key listing", async () => {
      const key = await t.client.createKey(t.world.a, "pull");
      expect((await t.client.listKeys(t.world.a)).find((k) => k.id === key.id)?.lastUsedAt).toBeNull();
      const before = Date.now();
      await t.client.token(key, [`repository:${t.world.a}/app:pull`]);
      // Recorded in the background, so that it never slows the request: wait for it.
      let lastUsedAt: string | null | undefined = null;
      for (let i = 0; i < 50 && !lastUsedAt; i++) {
        lastUsedAt = (await t.client.listKeys(t.world.a)).find((k) => k.id === key.id)?.lastUsedAt;
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
    const generationOfA = async () => jwtPayload((await t.client.token(t.world.aPull, [`repository:${t.world.a}/app:pull`])).token).gen as Record<string, string>;

    /** A token as the t.deployment would sign it, with what the test chooses: key, times, issuer, tenant generations. */
    async function craft(options: { secrets?: string; kid?: string; exp?: number; iat?: number; service?: string; typ?: string; gen?: Record<string, string> | null } = {}) {
      const keys = await TokenKeySet.fromSecrets(options.secrets ?? t.deployment!.tokenSecrets);
      const ours = await TokenKeySet.fromSecrets(t.deployment!.tokenSecrets);
      const now = Math.floor(Date.now() / 1000);
      const iat = options.iat ?? now;
      const gen = options.gen === undefined ? await generationOfA() : options.gen;
      return new SignJWT({ ...claimsFor(`${t.world.a}/app`), ...(gen ? { gen } : {}) })
        .setProtectedHeader({ alg: "EdDSA", kid: options.kid ?? (options.secrets ? keys.signing.kid : ours.signing.kid), typ: options.typ ?? "at+jwt" })
        .setIssuer(options.service ?? t.deployment!.service)
        .setAudience(options.service ?? t.deployment!.service)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(options.exp ?? now + 300)
        .setJti(randomBytes(8).toString("hex"))
        .sign(keys.signing.privateKey);
    }

    const manifestWith = (token: string) => t.client.send("GET", `/v2/${t.world.a}/app/manifests/v1`, bearer(token));

    async function expectInvalidToken(res: Response) {
      await expectOciError(res, 401, "UNAUTHORIZED");
      expect(parseChallenge(res.headers.get("www-authenticate")).error).toBe("invalid_token");
    }

    it("a token crafted with the t.deployment's own key is accepted (the control for the forgeries below)", async () => {
      const res = await manifestWith(await craft());
      expect(res.status, await describeFailure(res)).toBe(200);
    });

    it("refuses a token of our key that names no generation of the tenant, or another one (issued before generations, or for a deleted tenant)", async () => {
      const stale = await manifestWith(await craft({ gen: null }));
      const { errors } = (await stale.clone().json()) as { errors: { message: string }[] };
      await expectInvalidToken(stale);
      expect(errors[0]!.message).toMatch(/log in again/);
      await expectInvalidToken(await manifestWith(await craft({ gen: { [t.world.a]: "not-the-current-one" } })));
      await expectInvalidToken(await manifestWith(await craft({ gen: { [t.world.b]: Object.values(await generationOfA())[0]! } })));
    });

    it("refuses alg none, with or without the t.deployment's kid", async () => {
      const now = Math.floor(Date.now() / 1000);
      const unsigned = new UnsecuredJWT(claimsFor(`${t.world.a}/app`)).setIssuer(t.deployment!.service).setAudience(t.deployment!.service).setIssuedAt(now).setExpirationTime(now + 300).encode();
      await expectInvalidToken(await manifestWith(unsigned));
      const kid = (await TokenKeySet.fromSecrets(t.deployment!.tokenSecrets)).signing.kid;
      const [, payload] = unsigned.split(".");
      for (const alg of ["none", "None", "NONE"]) {
        const header = Buffer.from(JSON.stringify({ alg, typ: "at+jwt", kid })).toString("base64url");
        await expectInvalidToken(await manifestWith(`${header}.${payload}.`));
      }
      // A real token's signature moved onto other claims.
      const real = (await t.client.token(t.world.aPull, [`repository:${t.world.a}/app:pull`])).token.split(".");
      await expectInvalidToken(await manifestWith(`${real[0]}.${payload}.${real[2]}`));
    });

    it("refuses an expired token signed with the t.deployment's own key", async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectInvalidToken(await manifestWith(await craft({ iat: now - 900, exp: now - 600 })));
    });

    it("refuses a token signed by another key, under its own kid or the t.deployment's", async () => {
      const other = `other-t.deployment-${randomBytes(24).toString("base64url")}`;
      await expectInvalidToken(await manifestWith(await craft({ secrets: other })));
      const ourKid = (await TokenKeySet.fromSecrets(t.deployment!.tokenSecrets)).signing.kid;
      await expectInvalidToken(await manifestWith(await craft({ secrets: other, kid: ourKid })));
    });

    it("refuses a token of our key issued for another service, or typed as a refresh token", async () => {
      await expectInvalidToken(await manifestWith(await craft({ service: "another-registry" })));
      await expectInvalidToken(await manifestWith(await craft({ typ: "rt+jwt" })));
    });

    it("a pull token cannot push: blob POST and manifest PUT answer 401 insufficient_scope", async () => {
      const app = `${t.world.a}/app`;
      const { token } = await t.client.token(t.world.aPush, [`repository:${app}:pull`]);
      const post = await t.client.send("POST", `/v2/${app}/blobs/uploads/`, bearer(token));
      await expectOciError(post, 401, "UNAUTHORIZED");
      expect(parseChallenge(post.headers.get("www-authenticate"))).toMatchObject({ error: "insufficient_scope", scope: `repository:${app}:pull,push` });
      const monolithic = await t.client.send("POST", `/v2/${app}/blobs/uploads/?digest=${sha256(new Uint8Array([1]))}`, bearer(token), { body: new Uint8Array([1]) });
      expect(monolithic.status).toBe(401);
      const put = await t.client.putManifest(app, "from-pull-token", t.world.aImage.manifest, bearer(token));
      await expectOciError(put, 401, "UNAUTHORIZED");
      expect(parseChallenge(put.headers.get("www-authenticate")).error).toBe("insufficient_scope");
      const del = await t.client.send("DELETE", `/v2/${app}/manifests/${t.world.aImage.manifestDigest}`, bearer(token));
      expect(del.status).toBe(401);
      const tag = await t.client.send("GET", `/v2/${app}/manifests/from-pull-token`, bearer(token));
      expect(tag.status).toBe(404);
    });
  });
}
