import { CliError, type CliIo } from "./io.ts";

// The admin API over fetch (docs/admin-api.md). Where: --registry or STRATUS_REGISTRY. Who:
// STRATUS_ADMIN_TOKEN (the operator's bootstrap token, sent as Bearer) or STRATUS_API_KEY (an admin
// key, sent as Basic with STRATUS_TENANT or "stratus" as the user name). Credentials are sent, never
// printed: no message below includes a header.

export const DEFAULT_REGISTRY = "http://127.0.0.1:5000";

export interface Connection {
  /** scheme://host[:port] of the registry. */
  base: URL;
  authorization?: string;
}

export function registryUrl(value: string): URL {
  // A bare host is https, except on loopback where the local default listens on plain http.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `${/^(localhost|127\.|\[::1\])/.test(value) ? "http" : "https"}://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`registry "${value}" is not a URL or host`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`registry "${value}": use an http or https URL`);
  if (url.username || url.password) throw new CliError("put credentials in STRATUS_API_KEY or STRATUS_ADMIN_TOKEN, not in the registry URL");
  return new URL(url.origin);
}

export function connectionFrom(registry: string | undefined, env: CliIo["env"]): Connection {
  const base = registryUrl(registry ?? env.STRATUS_REGISTRY ?? DEFAULT_REGISTRY);
  if (env.STRATUS_ADMIN_TOKEN) return { base, authorization: `Bearer ${env.STRATUS_ADMIN_TOKEN}` };
  if (env.STRATUS_API_KEY) {
    const user = env.STRATUS_TENANT || "stratus";
    return { base, authorization: `Basic ${Buffer.from(`${user}:${env.STRATUS_API_KEY}`).toString("base64")}` };
  }
  return { base };
}

interface ErrorBody {
  errors?: { code?: string; message?: string }[];
}

export class AdminClient {
  constructor(
    private readonly connection: Connection,
    private readonly fetchFn: typeof fetch,
  ) {}

  get registry(): URL {
    return this.connection.base;
  }

  /** One request; the parsed JSON answer (undefined for 204). Refusals throw CliError with the server's message. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.send<T>(method, path, body)).body;
  }

  /** Every item of a paginated listing, following Link: <…>; rel="next". */
  async listAll<T>(path: string, field: string): Promise<T[]> {
    const items: T[] = [];
    let next: string | undefined = path;
    for (let pages = 0; next !== undefined; pages++) {
      if (pages >= 10_000) throw new CliError(`${path}: the listing does not end`);
      const { body, headers } = await this.send<Record<string, T[]>>("GET", next);
      items.push(...(body[field] ?? []));
      next = nextPage(headers.get("link"));
    }
    return items;
  }

  private async send<T>(method: string, path: string, body?: unknown): Promise<{ body: T; headers: Headers }> {
    const url = new URL(path, this.connection.base);
    // A Link to another host must not receive our credentials.
    if (url.origin !== this.connection.base.origin) throw new CliError(`the registry pointed to another host (${url.origin}); not following`);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.connection.authorization) headers.authorization = this.connection.authorization;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetchFn(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (e) {
      const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : String(e);
      throw new CliError(`cannot reach the registry at ${this.connection.base.origin}: ${cause}`);
    }
    const text = await response.text();
    if (!response.ok) throw this.refusal(response, text);
    if (!text) return { body: undefined as T, headers: response.headers };
    try {
      return { body: JSON.parse(text) as T, headers: response.headers };
    } catch {
      throw new CliError(`${method} ${url.pathname}: the registry answered ${response.status} with a body that is not JSON`);
    }
  }

  private refusal(response: Response, text: string): CliError {
    let error: { code?: string; message?: string } | undefined;
    try {
      error = (JSON.parse(text) as ErrorBody).errors?.[0];
    } catch {
      error = undefined;
    }
    const what = error?.message ? `${error.message} (${error.code ?? "error"}, HTTP ${response.status})` : `the registry answered HTTP ${response.status}`;
    if (response.status === 401) {
      const hint = this.connection.authorization
        ? "the registry refused the credentials in STRATUS_ADMIN_TOKEN / STRATUS_API_KEY"
        : "set STRATUS_ADMIN_TOKEN (operator) or STRATUS_API_KEY (a tenant admin key)";
      return new CliError(`${what}\n${hint}`);
    }
    return new CliError(what);
  }
}

/** The path of the next page from a Link header, if any. */
export function nextPage(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(",")) {
    const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(part);
    if (match) return match[1];
  }
  return undefined;
}
