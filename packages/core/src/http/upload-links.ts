import { jwtVerify, SignJWT, type JWTPayload } from "jose";
import { RegistryError } from "../errors.ts";
import type { RepositoryName } from "../oci/names.ts";
import type { UploadId } from "../ports.ts";
import type { RouteParams } from "./router.ts";

// Upload sessions served by another host (the upload service, DESIGN.md "How clients upload blobs"):
// clients follow a Location on another host but do not forward their credentials there, so the
// Location carries its own signed, short-lived token (`_state`, the parameter name the CNCF
// registry uses for its upload state). The token grants exactly one session of one repository.

const AUDIENCE = "stratus-upload";
const UPLOAD_PATH = /^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const MAX_TOKEN_LENGTH = 2048;

export interface UploadLinksOptions {
  /** Absolute base URL of the host that serves upload sessions: https://upload.example.com */
  baseUrl: string;
  /** HMAC key shared by the API and the upload service; at least 32 bytes. */
  secret: Uint8Array;
  /** Lifetime of a token; every upload response issues a fresh one. */
  ttlSeconds: number;
}

/** The current generation of the repository's tenant (multi-tenant mode). */
export type TenantGenerationOf = (repository: RepositoryName) => Promise<string | undefined>;
/** Whether a link's generation is still its repository's tenant's; a link without one is not. */
export type GenerationCheck = (repository: RepositoryName, generation: string | undefined) => Promise<boolean>;

export class UploadLinks {
  private readonly base: string;

  constructor(private readonly options: UploadLinksOptions) {
    if (options.secret.length < 32) throw new Error("the upload token secret must be at least 32 bytes");
    this.base = options.baseUrl.replace(/\/+$/, "");
  }

  /**
   * Makes a relative upload-session Location absolute on the upload host, with a fresh token. In
   * multi-tenant mode the token names the generation of the repository's tenant (`generationOf`),
   * so a link outlives neither the tenant nor its deletion and re-creation under the same name.
   */
  async rewrite(response: Response, generationOf?: TenantGenerationOf): Promise<void> {
    const location = response.headers.get("location");
    const m = location ? UPLOAD_PATH.exec(location) : null;
    if (!m) return;
    const gen = await generationOf?.(m[1] as RepositoryName);
    const token = await new SignJWT({ repo: m[1], ...(gen !== undefined ? { gen } : {}) })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(m[2]!)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.options.ttlSeconds}s`)
      .sign(this.options.secret);
    response.headers.set("location", `${this.base}${location}?_state=${token}`);
  }

  /**
   * Whether the request carries a token granting this upload session. Absent: "absent" (the
   * authorizer decides). Present but invalid, expired or for another session: 401.
   */
  async check(url: URL, params: RouteParams, isCurrent?: GenerationCheck): Promise<"granted" | "absent"> {
    const token = url.searchParams.get("_state");
    if (token === null) return "absent";
    const refuse = () =>
      new RegistryError("UNAUTHORIZED", "the upload link is invalid or has expired; start the upload again with POST", null);
    if (!params.id || token.length > MAX_TOKEN_LENGTH) throw refuse();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.options.secret, { audience: AUDIENCE, algorithms: ["HS256"] }));
    } catch {
      throw refuse();
    }
    if (payload.sub !== (params.id as UploadId) || payload.repo !== (params.name as RepositoryName)) throw refuse();
    if (isCurrent && !(await isCurrent(params.name as RepositoryName, typeof payload.gen === "string" ? payload.gen : undefined))) {
      throw new RegistryError("UNAUTHORIZED", "the upload link belongs to a tenant that was deleted since; log in and push again", null);
    }
    return "granted";
  }
}
