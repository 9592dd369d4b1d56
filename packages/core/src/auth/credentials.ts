// What an Authorization header presents, before anything is checked. Bounded: a header past
// MAX_AUTHORIZATION_LENGTH is refused unread, since no credential of ours comes close.

export const MAX_AUTHORIZATION_LENGTH = 8 * 1024;

export type PresentedCredentials =
  | { kind: "none" }
  | { kind: "basic"; username: string; password: string }
  | { kind: "bearer"; token: string }
  | { kind: "malformed"; reason: string };

export function presentedCredentials(header: string | null): PresentedCredentials {
  if (header === null || header.trim() === "") return { kind: "none" };
  if (header.length > MAX_AUTHORIZATION_LENGTH) {
    return { kind: "malformed", reason: `the Authorization header is ${header.length} characters long; the limit is ${MAX_AUTHORIZATION_LENGTH}` };
  }
  const space = header.indexOf(" ");
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const value = space === -1 ? "" : header.slice(space + 1).trim();
  if (scheme === "bearer" && /^[A-Za-z0-9._~+/=-]+$/.test(value)) return { kind: "bearer", token: value };
  if (scheme === "basic" && /^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { kind: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    return { kind: "malformed", reason: "Basic credentials must be base64 of \"username:password\"" };
  }
  return { kind: "malformed", reason: "the Authorization header must be \"Basic <base64 username:password>\" or \"Bearer <token>\"" };
}
