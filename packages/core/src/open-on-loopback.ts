import type { AccessRequest, AuthDecision, Authorizer, RequestContext } from "./ports.ts";

// The authorizer seam's first implementation: the local default trusts callers on this machine, like
// `docker run registry:2` bound to localhost. Tokens and tenants replace it (issue: tenants and auth).

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

export class OpenOnLoopbackAuthorizer implements Authorizer {
  /** allowRemote opens the registry to every peer: for trusted networks only. */
  constructor(private readonly options: { allowRemote?: boolean } = {}) {}

  async authorize(_request: Request, _access: AccessRequest, context: RequestContext): Promise<AuthDecision> {
    if (this.options.allowRemote || isLoopbackAddress(context.remoteAddress)) return { allowed: true, subject: "loopback" };
    return {
      allowed: false,
      status: 403,
      message: "this registry runs without authentication and serves only clients on this machine; start it with --allow-remote to serve a trusted network",
    };
  }
}
