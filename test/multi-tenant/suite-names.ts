import { randomBytes } from "node:crypto";
import { describe, expect } from "vitest";
import { it } from "../http-api/known-failures.ts";
import { describeFailure, expectOciError, rawRequest } from "../http-api/client.ts";
import { basic, bearer, jwtPayload, sha256, uniqueTenant } from "./deployment.ts";
import { type SuiteContext } from "./suite-support.ts";

// Part of the multi-tenant suite (suite.ts): Names that try to leave a namespace, and plan limits.
export function nameAndPlanTests(t: SuiteContext): void {
  describe("names that try to leave a namespace", () => {
    it("dot segments in the raw path are refused, not resolved into another tenant", async () => {
      const auth = basic(t.world.aDelete);
      for (const target of [
        `/v2/${t.world.a}/../${t.world.b}/private/manifests/v1`,
        `/v2/${t.world.a}/app/../../${t.world.b}/private/manifests/v1`,
        `/v2/${t.world.a}/%2e%2e/${t.world.b}/private/manifests/v1`,
        `/v2/${t.world.a}/%2E%2E/${t.world.b}/private/blobs/${t.world.bPrivate.layerDigest}`,
        `/v2/${t.world.a}/./app/manifests/v1`,
        // The URL parser turns "\" into "/" after the dot-segment check would have run.
        `/v2/${t.world.a}/..\\${t.world.b}/private/tags/list`,
        `/v2/${t.world.a}/..\\${t.world.b}/private/manifests/v1`,
        `/v2/${t.world.a}\\..\\${t.world.b}/private/manifests/v1`,
        `/v2/${t.world.a}/%5C..%5C${t.world.b}/private/manifests/v1`,
        `/v2/${t.world.a}/%5c/../${t.world.b}/private/manifests/v1`,
        `/v2/${t.world.a}/%252e%252e/${t.world.b}/private/manifests/v1`,
      ]) {
        const res = await rawRequest(t.client.url, "GET", target, { authorization: auth });
        expect(res.status, `${target}: ${res.body}`).toBe(400);
        expect(JSON.parse(res.body).errors[0].code, target).toBe("NAME_INVALID");
      }
      const del = await rawRequest(t.client.url, "DELETE", `/v2/${t.world.a}/../${t.world.b}/private/manifests/${t.world.bPrivate.manifestDigest}`, { authorization: auth });
      expect(del.status).toBe(400);
      // The same before /token and the admin API, whose path rules a proxy may also enforce.
      for (const target of [`/token\\..\\admin/v1/tenants`, `/admin/v1/tenants/${t.world.a}\\..\\${t.world.b}`, `/admin/v1/tenants/${t.world.a}/%2e%2e/${t.world.b}`, `/admin\\v1/tenants`]) {
        const res = await rawRequest(t.client.url, "GET", target, { authorization: basic(t.world.aAdmin) });
        expect(res.status, `${target}: ${res.body}`).toBe(400);
        expect(res.body).not.toContain(t.world.b + "\"");
      }
    });

    const encodedSlashes = () => [`${t.world.a}%2F..%2F${t.world.b}%2Fprivate`, `${t.world.a}%2f..%2f${t.world.b}%2fprivate`, `${t.world.b}%2Fprivate`];

    it("percent-encoded slashes are NAME_INVALID", async () => {
      const auth = basic(t.world.aDelete);
      for (const name of encodedSlashes()) {
        const res = await rawRequest(t.client.url, "GET", `/v2/${name}/manifests/v1`, { authorization: auth });
        expect(res.status, `${name}: ${res.body}`).toBe(400);
        expect(JSON.parse(res.body).errors[0].code, name).toBe("NAME_INVALID");
      }
    });

    // Holds behind a front that decodes the path first (API Gateway HTTP APIs: "%2F" arrives as "/"):
    // the name the registry routes is the name it authorizes.
    it("percent-encoded slashes never reach another tenant's repository", async () => {
      const auth = basic(t.world.aDelete);
      for (const name of encodedSlashes()) {
        const res = await rawRequest(t.client.url, "GET", `/v2/${name}/manifests/v1`, { authorization: auth });
        expect([400, 401, 403], `${name}: ${res.body}`).toContain(res.status);
      }
    });

    it("upper case and overlong names are NAME_INVALID", async () => {
      const auth = basic(t.world.aDelete);
      for (const name of [`${t.world.a.toUpperCase()}/app`, `${t.world.b.toUpperCase()}/private`, `${t.world.a}/${"x".repeat(260)}`]) {
        const res = await rawRequest(t.client.url, "GET", `/v2/${name}/manifests/v1`, { authorization: auth });
        expect(res.status, `${name}: ${res.body}`).toBe(400);
        expect(JSON.parse(res.body).errors[0].code, name).toBe("NAME_INVALID");
      }
    });

    it("one-component names are NAME_INVALID with the <namespace>/<name> hint", async () => {
      for (const [method, path] of [
        ["GET", "/v2/app/manifests/v1"],
        ["POST", "/v2/app/blobs/uploads/"],
        ["GET", `/v2/${t.world.a}/tags/list`],
      ] as const) {
        const res = await t.client.send(method, path, basic(t.world.aPush));
        const error = await expectOciError(res, 400, "NAME_INVALID");
        expect(error.message).toContain("<namespace>/<name>");
      }
    });

    it("crafted names in token scopes grant nothing", async () => {
      const b = t.world.b;
      const { token } = await t.client.token(t.world.aDelete, [
        `repository:${t.world.a}/../${b}/private:pull,push,delete`,
        `repository:${t.world.a}/app/../../${b}/private:pull`,
        `repository:${t.world.a}%2F..%2F${b}%2Fprivate:pull`,
        `repository:${t.world.a}/%2e%2e/${b}/private:pull`,
        `repository:${b.toUpperCase()}/private:pull`,
        `repository:${t.world.a.toUpperCase()}/app:pull`,
        `repository:${t.world.a}/${"x".repeat(260)}:pull`,
        `repository:${t.world.a}:pull,push`,
        `repository:${t.world.a}/app:pull:${b}/private:pull`,
        `repository:${t.world.a}/app\n${b}/private:pull`,
        `repository(plugin):${b}/private:pull`,
        `registry:${b}/private:pull`,
      ]);
      expect(jwtPayload(token).access).toEqual([]);
      for (const repo of [`${b}/private`, `${t.world.a}/app`]) {
        const res = await t.client.send("GET", `/v2/${repo}/manifests/v1`, bearer(token));
        expect(res.status, repo).toBe(401);
      }
    });
  });

  describe("plans", () => {
    it("with a plan of 1 repository the second repository's push is refused 403 DENIED naming the limit; deleting the repository frees it", async () => {
      const plan = `one-repo-${randomBytes(3).toString("hex")}`;
      await t.client.putPlan(plan, { repositories: 1, storedBytes: null, manifestsPerRepository: null });
      const tenant = await t.client.createTenant(uniqueTenant("p"), plan);
      const key = await t.client.createKey(tenant, "delete");
      const first = await t.client.pushImage(`${tenant}/first`, "v1", basic(key));

      const expectRepositoryLimit = async (res: Response) => {
        const error = await expectOciError(res, 403, "DENIED");
        expect(error.message).toMatch(/1 of its 1 repositories/);
        expect(error.detail).toMatchObject({ limit: "repositories", max: 1, usage: 1 });
      };
      const blob = new Uint8Array(randomBytes(16));
      await expectRepositoryLimit(await t.client.send("POST", `/v2/${tenant}/second/blobs/uploads/?digest=${sha256(blob)}`, basic(key), { body: blob }));
      // Nor by mounting a blob the tenant has, nor by a manifest alone (an empty image).
      await expectRepositoryLimit(await t.client.send("POST", `/v2/${tenant}/second/blobs/uploads/?mount=${first.layerDigest}&from=${tenant}/first`, basic(key)));
      const head = await t.client.send("HEAD", `/v2/${tenant}/second/blobs/${first.layerDigest}`, basic(key));
      expect(head.status).toBe(404);
      // The first repository takes more.
      await t.client.pushImage(`${tenant}/first`, "v2", basic(key));

      // Deleting a manifest gives its bytes back but keeps the repository: its slot stays taken.
      const del = await t.client.send("DELETE", `/v2/${tenant}/first/manifests/${first.manifestDigest}`, basic(key));
      expect(del.status, await describeFailure(del)).toBe(202);
      const usageOf = async () => (await (await t.client.admin("GET", `/admin/v1/tenants/${tenant}/usage`)).json()) as { repositories: { used: number }; storedBytes: { used: number } };
      expect((await usageOf()).repositories.used).toBe(1);
      await expectRepositoryLimit(await t.client.send("POST", `/v2/${tenant}/second/blobs/uploads/?digest=${sha256(blob)}`, basic(key), { body: blob }));

      // Deleting the repository (admin API) gives the slot and every byte back: the push now succeeds.
      const gone = await t.client.admin("DELETE", `/admin/v1/repositories/${tenant}/first`);
      expect(gone.status, await describeFailure(gone)).toBe(204);
      expect(await usageOf()).toMatchObject({ repositories: { used: 0 }, storedBytes: { used: 0 } });
      await t.client.pushImage(`${tenant}/second`, "v1", basic(key));
      expect((await usageOf()).repositories.used).toBe(1);
    });

    it("a plan bounds open upload sessions and counts their staged bytes: refusals name the limit and leave nothing", async () => {
      const plan = `uploads-${randomBytes(3).toString("hex")}`;
      await t.client.putPlan(plan, { repositories: null, storedBytes: 1_000, manifestsPerRepository: null, uploadSessions: 2 });
      const tenant = await t.client.createTenant(uniqueTenant("u"), plan);
      const key = await t.client.createKey(tenant, "push");
      const post = () => t.client.send("POST", `/v2/${tenant}/app/blobs/uploads/`, basic(key));
      const [first, second] = [await post(), await post()];
      expect([first.status, second.status]).toEqual([202, 202]);
      const refused = await expectOciError(await post(), 403, "DENIED");
      expect(refused.message).toMatch(/^tenant \S+ has 2 of its 2 upload sessions open/);
      expect(refused.detail).toMatchObject({ limit: "uploadSessions", max: 2, usage: 2 });

      // A chunk past the plan's bytes is refused, and the session goes with what it staged.
      const location = new URL(first.headers.get("location")!, `${t.client.url}/`).toString();
      const chunk = await t.client.send("PATCH", location, basic(key), { headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(1_001) });
      expect((await expectOciError(chunk, 403, "DENIED")).detail).toMatchObject({ limit: "storedBytes", max: 1_000, usage: 0 });
      await expectOciError(await t.client.send("GET", location, basic(key)), 404, "BLOB_UPLOAD_UNKNOWN");
      const usage = (await (await t.client.admin("GET", `/admin/v1/tenants/${tenant}/usage`)).json()) as Record<string, unknown>;
      expect(usage).toMatchObject({ uploadSessions: { used: 1, limit: 2 }, stagedBytes: { used: 0 }, storedBytes: { used: 0 } });
      // The freed place takes a new session.
      expect((await post()).status).toBe(202);
    });
  });
}
