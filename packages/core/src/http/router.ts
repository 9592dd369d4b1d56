import { RegistryError } from "../errors.ts";
import type { AccessRequest, Action, CatalogView } from "../ports.ts";
import { parseRepositoryName, type RepositoryName } from "../oci/names.ts";

// One table says what the registry answers (registry.ts); this file turns its patterns into matchers.
// Repository names contain slashes, so each pattern is anchored at both ends and <name> is greedy:
// "/v2/a/b/blobs/uploads/x" matches the upload route before the blob route is tried.

export interface RouteParams {
  name?: RepositoryName;
  [param: string]: string | undefined;
}

export interface RouteInput {
  request: Request;
  url: URL;
  params: RouteParams;
  /** What the authorizer lets this caller see in listings (catalog requests). */
  catalog?: CatalogView;
}

export type Handler = (input: RouteInput) => Promise<Response>;

export interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  paramNames: string[];
  /** What the request asks to do, for the authorizer, from its parameters. */
  access: (params: RouteParams, url: URL) => AccessRequest;
  handler: Handler;
}

const PARAM = /<([a-z]+)>/g;

/** Repositories a request may also read, named in its challenge (see AccessRequest.optional). */
export type OptionalAccess = (url: URL) => { repository: RepositoryName; actions: Action[] }[];

export function route(method: string, pattern: string, actions: Action[] | "registry" | "catalog", handler: Handler, optional?: OptionalAccess): Route {
  const paramNames: string[] = [];
  const source = pattern
    .split(PARAM)
    .map((part, i) => {
      if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      paramNames.push(part);
      return part === "name" ? "(.+)" : "([^/]+)";
    })
    .join("");
  const access =
    actions === "registry" || actions === "catalog"
      ? () => ({ kind: actions }) as AccessRequest
      : (params: RouteParams, url: URL): AccessRequest => {
          const also = optional?.(url) ?? [];
          return { kind: "repository", repository: params.name!, actions, ...(also.length ? { optional: also } : {}) };
        };
  return { method, pattern, regex: new RegExp(`^${source}$`), paramNames, access, handler };
}

export type RouteMatch =
  | { kind: "found"; route: Route; params: RouteParams }
  | { kind: "method-not-allowed"; allowed: string[] }
  | { kind: "not-found" };

export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  const allowed: string[] = [];
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (!m) continue;
    if (r.method !== method) {
      allowed.push(r.method);
      continue;
    }
    const params: RouteParams = {};
    r.paramNames.forEach((p, i) => {
      const value = m[i + 1]!;
      // The name is parsed here, once, so a handler only ever sees a valid RepositoryName.
      params[p] = p === "name" ? parseRepositoryName(value) : value;
    });
    return { kind: "found", route: r, params };
  }
  return allowed.length ? { kind: "method-not-allowed", allowed } : { kind: "not-found" };
}

export function noRoute(match: Exclude<RouteMatch, { kind: "found" }>, method: string, path: string): RegistryError {
  const shown = path.length > 120 ? `${path.slice(0, 120)}…` : path;
  if (match.kind === "method-not-allowed") {
    return new RegistryError("UNSUPPORTED", `${method} is not supported on ${shown}; allowed: ${match.allowed.join(", ")}`, null, {
      headers: { allow: match.allowed.join(", ") },
    });
  }
  return new RegistryError("UNSUPPORTED", `no such endpoint: ${method} ${shown}`, null, { status: 404 });
}
