import { createHash } from "node:crypto";

// What stratus doctor makes of an HTTP answer: a status, headers and body, or the network error
// that stood in for one; and the few protocol details it reads (challenges, token claims).

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

export type Sent = Answer | { error: string; code?: string };

export const failed = (a: Sent): a is { error: string; code?: string } => "error" in a;

/** "BLOB_UPLOAD_INVALID: …" from an OCI error body, `{"message":…}` from a gateway's, else the status. */
export function describe(a: Sent): string {
  if (failed(a)) return a.error;
  const text = a.body.toString("utf8");
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[]; message?: string };
    const e = parsed.errors?.[0];
    if (e) return `HTTP ${a.status} ${e.code}: ${e.message}`;
    if (parsed.message) return `HTTP ${a.status} ${JSON.stringify({ message: parsed.message })} from the gateway, not the registry`;
  } catch {
    // not JSON
  }
  return `HTTP ${a.status}${text ? ` ${JSON.stringify(text.slice(0, 120))}` : ""}`;
}

export const isOciError = (a: Sent) => !failed(a) && /^\s*\{\s*"errors"/.test(a.body.toString("utf8"));
export const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** The parameters of a `Bearer realm="…",service="…"` challenge. */
export function parseChallenge(value: string): Record<string, string> | undefined {
  const match = /^\s*Bearer\s+(.*)$/i.exec(value);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const m of match[1]!.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return params;
}

/** The actions a Docker registry token grants on `repository`, from its claims (not verified: only to explain a refusal). */
export function grantedActions(token: string, repository: string): string[] | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { access?: { type: string; name: string; actions: string[] }[] };
    if (!Array.isArray(claims.access)) return undefined;
    return claims.access.filter((a) => a.type === "repository" && a.name === repository).flatMap((a) => a.actions);
  } catch {
    return undefined;
  }
}
