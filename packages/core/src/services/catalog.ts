import { matchesRepositoryPatterns } from "../auth/repository-patterns.ts";
import type { CatalogView, MetadataStore, Page, PageRequest, TenantStore } from "../ports.ts";

// The catalog a caller may see: every repository on an open registry; otherwise the public ones of
// every tenant plus the caller's own tenant's (within its key's patterns). The two sources are
// lexically ordered pages, merged here so that pagination (n, last) works as on an open registry.

export class CatalogService {
  constructor(private readonly deps: { metadata: MetadataStore; tenants?: TenantStore }) {}

  async list(page: PageRequest, view: CatalogView): Promise<Page> {
    if (view.kind === "all" || !this.deps.tenants) return this.deps.metadata.listRepositories(page);
    const tenants = this.deps.tenants;
    const own = view.tenant ? `${view.tenant}/` : undefined;
    const sources: Array<{ list: (p: PageRequest) => Promise<Page>; keep: (name: string) => boolean }> = [
      { list: (p) => tenants.listPublicRepositories(p), keep: () => true },
    ];
    if (own) {
      const patterns = view.repositories;
      sources.push({ list: (p) => this.deps.metadata.listRepositories(p, own), keep: (name) => !patterns || matchesRepositoryPatterns(name, patterns) });
    }

    // Collect one item past the page to know whether there is more.
    const found: string[] = [];
    let after = page.after;
    for (;;) {
      const batch = Math.max(page.limit + 1 - found.length, 16);
      const pages = await Promise.all(sources.map(async (s) => ({ source: s, page: await s.list({ limit: batch, ...(after !== undefined ? { after } : {}) }) })));
      // Past the smallest last item of a source that has more, another item of that source could
      // still sort in between: only names up to there are settled.
      const bounds = pages.filter((p) => p.page.more && p.page.items.length > 0).map((p) => p.page.items.at(-1)!);
      const boundary = bounds.length ? bounds.reduce((a, b) => (a < b ? a : b)) : undefined;
      const visible = new Set<string>();
      for (const { source, page: result } of pages) {
        for (const name of result.items) if ((boundary === undefined || name <= boundary) && source.keep(name)) visible.add(name);
      }
      for (const name of [...visible].sort()) {
        found.push(name);
        if (found.length > page.limit) return { items: found.slice(0, page.limit), more: true };
      }
      if (boundary === undefined) return { items: found, more: false };
      after = boundary;
    }
  }
}
