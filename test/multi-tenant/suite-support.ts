import { expect } from "vitest";
import { describeFailure } from "../http-api/client.ts";
import { sha256, type ApiKey, type MultiTenantClient, type MultiTenantDeployment, type PushedImage } from "./deployment.ts";

/** What the parts of the multi-tenant suite share, filled in by its beforeAll (read it inside tests only). */
export interface SuiteContext {
  deployment: MultiTenantDeployment | undefined;
  client: MultiTenantClient;
  /** Two tenants and their content, shared by the tests read-only: a's image, b's private and public images. */
  world: {
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
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The parameters of a WWW-Authenticate challenge: `Bearer realm="…",service="…",scope="…",error="…"`. */
export function parseChallenge(header: string | null): Record<string, string | undefined> & { scheme: string } {
  expect(header, "WWW-Authenticate").toBeTruthy();
  const [scheme, rest = ""] = header!.split(/ (.*)/s);
  const params: Record<string, string> = {};
  for (const m of rest.matchAll(/([a-z_]+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme: scheme!, ...params };
}

/** A blob GET succeeds: 200 with the bytes, or 307 to storage (the Lambda's presigned S3 URL). */
export async function expectBlobReadable(client: MultiTenantClient, repository: string, digest: string, auth: string): Promise<void> {
  const res = await client.send("GET", `/v2/${repository}/blobs/${digest}`, auth, { redirect: "manual" });
  expect([200, 307], await describeFailure(res)).toContain(res.status);
  const bytes = res.status === 200 ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array(await (await fetch(res.headers.get("location")!)).arrayBuffer());
  expect(sha256(bytes)).toBe(digest);
}
