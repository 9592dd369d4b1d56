import type { Digest } from "../src/oci/digest.ts";
import type { RepositoryName, Tag } from "../src/oci/names.ts";
import type { ApiKeyRecord, BlobRecord, BlobStore, ManifestSummary, MetadataStore, Page, PageRequest, Plan, Tenant, TenantId, TenantStore, TenantUsage, Visibility } from "../src/ports.ts";

// In-memory stand-ins for the admin API's unit tests (core's tests import no adapter). The real
// adapters run the same API in test/admin-api.test.ts.

function page<T>(sorted: T[], key: (t: T) => string, request: PageRequest): { items: T[]; more: boolean } {
  const after = sorted.filter((t) => request.after === undefined || key(t) > request.after);
  return { items: after.slice(0, request.limit), more: after.length > request.limit };
}

const byKey = <T>(key: (t: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

export class MemoryTenantStore implements TenantStore {
  readonly tenants = new Map<string, Tenant>();
  readonly plans = new Map<string, Plan>();
  readonly keys = new Map<string, ApiKeyRecord>();
  readonly visibility = new Map<string, Visibility>();

  async createTenant(tenant: Tenant) {
    if (this.tenants.has(tenant.id)) return false;
    this.tenants.set(tenant.id, { ...tenant });
    return true;
  }
  async getTenant(id: TenantId) {
    const t = this.tenants.get(id);
    return t && { ...t };
  }
  async setTenantPlan(id: TenantId, plan: string) {
    const t = this.tenants.get(id);
    if (!t) return false;
    t.plan = plan;
    return true;
  }
  async deleteTenant(id: TenantId) {
    if (!this.tenants.delete(id)) return false;
    for (const [k, v] of this.keys) if (v.tenant === id) this.keys.delete(k);
    for (const name of this.visibility.keys()) if (name.startsWith(`${id}/`)) this.visibility.delete(name);
    return true;
  }
  async listTenants(request: PageRequest) {
    return page([...this.tenants.values()].sort(byKey((t) => t.id)), (t) => t.id, request);
  }
  async putPlan(plan: Plan) {
    this.plans.set(plan.name, structuredClone(plan));
  }
  async getPlan(name: string) {
    const p = this.plans.get(name);
    return p && structuredClone(p);
  }
  async listPlans() {
    return [...this.plans.values()].sort(byKey((p) => p.name)).map((p) => structuredClone(p));
  }
  async createApiKey(key: ApiKeyRecord) {
    this.keys.set(key.id, structuredClone(key));
  }
  async getApiKey(id: string) {
    const k = this.keys.get(id);
    return k && structuredClone(k);
  }
  async listApiKeys(tenant: TenantId) {
    return [...this.keys.values()].filter((k) => k.tenant === tenant).sort((a, b) => a.createdAt - b.createdAt).map((k) => structuredClone(k));
  }
  async revokeApiKey(tenant: TenantId, id: string, at: number) {
    const k = this.keys.get(id);
    if (!k || k.tenant !== tenant || k.revokedAt !== undefined) return false;
    k.revokedAt = at;
    return true;
  }
  async recordKeyUse(id: string, at: number) {
    const k = this.keys.get(id);
    if (k) k.lastUsedAt = at;
  }
  async setVisibility(_tenant: TenantId, repository: RepositoryName, visibility: Visibility) {
    this.visibility.set(repository, visibility);
  }
  async getVisibility(repository: RepositoryName) {
    return this.visibility.get(repository) ?? "private";
  }
  async listPublicRepositories(request: PageRequest): Promise<Page> {
    const names = [...this.visibility].filter(([, v]) => v === "public").map(([n]) => n).sort();
    return page(names, (n) => n, request);
  }
}

interface MemoryRepository {
  manifests: Map<string, ManifestSummary>;
  /** Digests of the tenant's blobs linked here. */
  links: Set<string>;
}

const tenantOf = (repository: string) => repository.split("/")[0]!;

/** Only what the admin API reads and deletes: repositories, manifests, blob links and usage. */
export class MemoryMetadata {
  readonly repositories = new Map<string, MemoryRepository>();
  readonly storedBytes = new Map<string, number>();
  /** The tenants' blobs, by "<tenant>/<digest>". */
  readonly blobs = new Map<string, BlobRecord>();
  /** Open upload sessions and their staged bytes, by tenant. */
  readonly uploads = new Map<string, { sessions: number; stagedBytes: number }>();

  private repository(name: string): MemoryRepository {
    const repo = this.repositories.get(name) ?? { manifests: new Map(), links: new Set() };
    this.repositories.set(name, repo);
    return repo;
  }

  private count(tenant: string, bytes: number): void {
    this.storedBytes.set(tenant, (this.storedBytes.get(tenant) ?? 0) + bytes);
  }

  /** Links the tenant's blob to the repository, recording (and counting) the blob the first time. */
  linkBlob(repository: string, digest: string, size = 10): void {
    const tenant = tenantOf(repository);
    if (!this.blobs.has(`${tenant}/${digest}`)) {
      this.blobs.set(`${tenant}/${digest}`, { digest: digest as Digest, size });
      this.count(tenant, size);
    }
    this.repository(repository).links.add(digest);
  }

  addManifest(repository: string, digest: string, options: { size?: number; tags?: string[]; createdAt?: number; mediaType?: string } = {}): void {
    const repo = this.repository(repository);
    const size = options.size ?? 100;
    repo.manifests.set(digest, {
      digest: digest as Digest,
      mediaType: options.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
      size,
      tags: (options.tags ?? []) as Tag[],
      createdAt: options.createdAt ?? 0,
    });
    this.count(tenantOf(repository), size);
  }

  /** As the stores do it (ports.ts): the repository, its manifests and links, and the blobs only it linked (returned). */
  deleteRepository(tenant: TenantId, repository: RepositoryName): { deleted: boolean; orphans: BlobRecord[] } {
    const repo = this.repositories.get(repository);
    if (!repo || tenantOf(repository) !== tenant) return { deleted: false, orphans: [] };
    this.repositories.delete(repository);
    for (const m of repo.manifests.values()) this.count(tenant, -m.size);
    const orphans: BlobRecord[] = [];
    for (const digest of repo.links) {
      if ([...this.repositories].some(([name, r]) => tenantOf(name) === tenant && r.links.has(digest))) continue;
      const blob = this.blobs.get(`${tenant}/${digest}`)!;
      this.blobs.delete(`${tenant}/${digest}`);
      this.count(tenant, -blob.size);
      orphans.push(blob);
    }
    return { deleted: true, orphans };
  }

  asStore(): MetadataStore {
    const unused = () => {
      throw new Error("not used by the admin API");
    };
    const store: Pick<
      MetadataStore, "listRepositories" | "listManifests" | "repositoryExists" | "tenantUsage" | "uploadUsage" | "manifestCount" | "deleteRepository" | "findBlob"
    > = {
      listRepositories: async (request, prefix) => {
        const names = [...this.repositories.keys()].filter((n) => prefix === undefined || n.startsWith(prefix)).sort();
        return page(names, (n) => n, request);
      },
      listManifests: async (repository, request) => {
        const manifests = [...(this.repositories.get(repository)?.manifests.values() ?? [])].sort(byKey((m) => m.digest));
        return page(manifests, (m) => m.digest, request);
      },
      repositoryExists: async (repository) => this.repositories.has(repository),
      tenantUsage: async (tenant): Promise<TenantUsage> => ({
        repositories: [...this.repositories.keys()].filter((n) => n.startsWith(`${tenant}/`)).length,
        storedBytes: this.storedBytes.get(tenant) ?? 0,
      }),
      uploadUsage: async (tenant) => ({ ...(this.uploads.get(tenant) ?? { sessions: 0, stagedBytes: 0 }), storedBytes: this.storedBytes.get(tenant) ?? 0 }),
      manifestCount: async (repository) => this.repositories.get(repository)?.manifests.size ?? 0,
      deleteRepository: async (tenant, repository) => this.deleteRepository(tenant, repository),
      findBlob: async (tenant, digest) => this.blobs.get(`${tenant}/${digest}`),
    };
    return new Proxy(store as MetadataStore, { get: (target, p) => (p in target ? target[p as keyof MetadataStore] : unused) });
  }
}

/** A BlobStore whose only used door is delete: it records what was deleted. */
export class MemoryBlobs {
  readonly deleted: BlobRecord[] = [];

  asStore(): BlobStore {
    const store: Pick<BlobStore, "delete"> = {
      delete: async (_tenant, blob) => void this.deleted.push(blob),
    };
    return new Proxy(store as BlobStore, {
      get: (target, p) =>
        p in target
          ? target[p as keyof BlobStore]
          : () => {
              throw new Error("not used by the admin API");
            },
    });
  }
}
