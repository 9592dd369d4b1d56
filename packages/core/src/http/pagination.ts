import { RegistryError } from "../errors.ts";
import type { Page, PageRequest } from "../ports.ts";

// distribution-spec end-8b / catalog: ?n=<count>&last=<last seen>, and a Link header to the next page.

export function parsePageRequest(url: URL, maxPageSize: number): PageRequest & { requested?: number } {
  const n = url.searchParams.get("n");
  const last = url.searchParams.get("last");
  let limit = maxPageSize;
  let requested: number | undefined;
  if (n !== null) {
    if (!/^\d{1,9}$/.test(n)) {
      throw new RegistryError("UNSUPPORTED", `n="${n.slice(0, 20)}" is not a non-negative integer`, { n: n.slice(0, 20) }, { status: 400 });
    }
    requested = Number(n);
    limit = Math.min(requested, maxPageSize);
  }
  if (last !== null && last.length > 512) {
    throw new RegistryError("UNSUPPORTED", "last is longer than 512 characters", null, { status: 400 });
  }
  return { limit, ...(last !== null && last !== "" ? { after: last } : {}), ...(requested !== undefined ? { requested } : {}) };
}

/** Link: <path?n=N&last=X>; rel="next", when more entries follow the page. */
export function nextLink(path: string, page: Page, limit: number): Record<string, string> {
  const last = page.items.at(-1);
  if (!page.more || last === undefined) return {};
  const query = new URLSearchParams({ n: String(limit), last });
  return { link: `<${path}?${query.toString()}>; rel="next"` };
}
