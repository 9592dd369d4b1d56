// URL parsing resolves "/v2/a/../b" to "/v2/b" before core sees it. Entry adapters check the raw
// request target first, so a crafted name is refused instead of silently landing in another repository.
export function hasDotSegments(rawPath: string): boolean {
  const path = rawPath.split("?")[0]!;
  return /(^|\/)(\.|%2e){1,2}(\/|$)/i.test(path);
}
