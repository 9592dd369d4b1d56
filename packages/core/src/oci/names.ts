import { RegistryError } from "../errors.ts";

// distribution-spec "Pulling manifests": <name> and <reference> grammars.
export type RepositoryName = string & { readonly __brand: "RepositoryName" };
export type Tag = string & { readonly __brand: "Tag" };

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// The spec bounds name plus registry hostname at 255 characters; we bound the name alone by it.
export const MAX_NAME_LENGTH = 255;

export function parseRepositoryName(value: string): RepositoryName {
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  if (value.length > MAX_NAME_LENGTH) {
    throw new RegistryError("NAME_INVALID", `repository name is ${value.length} characters long; the limit is ${MAX_NAME_LENGTH}`, { name: shown });
  }
  if (!NAME.test(value)) {
    throw new RegistryError(
      "NAME_INVALID",
      `invalid repository name "${shown}": use path components of lowercase letters and digits, separated by "/" and joined inside a component by ".", "_", "__" or "-"`,
      { name: shown },
    );
  }
  return value as RepositoryName;
}

export function tryParseRepositoryName(value: string): RepositoryName | undefined {
  return value.length <= MAX_NAME_LENGTH && NAME.test(value) ? (value as RepositoryName) : undefined;
}

export function isTag(value: string): value is Tag {
  return TAG.test(value);
}

export function parseTag(value: string): Tag {
  if (isTag(value)) return value;
  const shown = value.length > 140 ? `${value.slice(0, 140)}…` : value;
  throw new RegistryError(
    "TAG_INVALID",
    `invalid tag "${shown}": a tag is 1 to 128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`,
    { tag: shown },
  );
}

/** The first path component: the tenant namespace in multi-tenant mode (DESIGN.md "Tenancy"). */
export function namespaceOf(name: RepositoryName): string {
  const slash = name.indexOf("/");
  return slash === -1 ? name : name.slice(0, slash);
}
