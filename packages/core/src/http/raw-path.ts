// URL parsing rewrites a request path before core sees it: "/v2/a/../b" becomes "/v2/b", and the
// WHATWG parser turns "\" into "/" (so "/v2/a/..\b" becomes "/v2/b"). Proxies and path-based rules
// in front of the registry may decode "%2e", "%2f" or "%5c" into the same. Entry adapters hand core
// the raw request target, and it is checked here before routing (every path: /v2, /token, /admin),
// so a crafted path is refused instead of silently landing somewhere else, or being logged as
// something it is not.

// RFC 3986 pchar plus "/": anything else raw (a backslash, quotes, brackets, non-ASCII) is refused.
const RAW_ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
// What a percent-escape may stand for: a character that could have been sent raw and that no parser
// or proxy turns into a separator or a dot segment (so not ".", "/", "\", "%", controls, non-ASCII).
const ESCAPE_ALLOWED = /^[A-Za-z0-9\-_~!$&'()*+,;=:@]$/;

/** Why the raw target's path cannot be served as written, or undefined when it can. */
export function rawPathProblem(rawTarget: string): string | undefined {
  const query = rawTarget.indexOf("?");
  const path = query === -1 ? rawTarget : rawTarget.slice(0, query);
  if (path.includes("\\")) return "the path contains a backslash; paths separate components with \"/\" only";
  if (!RAW_ALLOWED.test(path)) return "the path contains characters that must not appear in a request path";
  for (const escape of path.matchAll(/%(.{0,2})/g)) {
    const hex = escape[1]!;
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return `the path contains a malformed percent-escape "%${hex}"`;
    if (!ESCAPE_ALLOWED.test(String.fromCharCode(parseInt(hex, 16)))) {
      return `the path contains "%${hex}", which stands for a separator, a dot or a character names cannot hold; send the path unencoded`;
    }
  }
  if (/(^|\/)\.{1,2}(\/|$)/.test(path)) return "the path contains \".\" or \"..\" segments; repository names cannot";
  return undefined;
}

/**
 * The path with its harmless escapes decoded (`sha256%3A…` is `sha256:…`, as Go registries read
 * it); escapes that rawPathProblem refuses are left as they are, so they can never become a
 * separator or a dot segment here (core may be called without a raw target).
 */
export function decodePathEscapes(path: string): string {
  if (!path.includes("%")) return path;
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return ESCAPE_ALLOWED.test(char) ? char : escape;
  });
}
