// Repository name patterns that limit an API key ("acme/web/*", "acme/**"), DESIGN.md "Auth".
//
// A pattern is a repository name whose components may hold wildcards, with gitignore's meanings:
//   *        any characters within one path component   acme/web-*   ⊇ acme/web-api
//   **       a whole component: any number of them       acme/**/cache ⊇ acme/cache, acme/a/b/cache
//            (a trailing "/**" needs at least one)       acme/**      ⊇ acme/x, acme/x/y (not "acme")
// Matching is on whole names: "acme/web" does not match "acme/web/api".

export interface RepositoryPattern {
  /** The pattern as written (consecutive "**" components collapsed). */
  readonly source: string;
  readonly components: readonly string[];
  readonly regex: RegExp;
}

const MAX_PATTERN_LENGTH = 255;
// Each wildcard is a backtracking point of the compiled regex: a few keep matching linear-ish on a
// 255-character name; dozens would let a tenant admin's pattern burn the registry's CPU.
const MAX_STARS = 4;
const MAX_DOUBLE_STARS = 2;
// A component of the name grammar (oci/names.ts), with "*" allowed anywhere inside it.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

export class RepositoryPatternError extends Error {
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`invalid repository pattern "${pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern}": ${reason}`);
    this.name = "RepositoryPatternError";
  }
}

/** Parses one pattern; throws RepositoryPatternError with the reason. */
export function parseRepositoryPattern(value: string): RepositoryPattern {
  if (value.length === 0) throw new RepositoryPatternError(value, "it is empty");
  if (value.length > MAX_PATTERN_LENGTH) throw new RepositoryPatternError(value, `it is longer than ${MAX_PATTERN_LENGTH} characters`);
  const components: string[] = [];
  for (const component of value.split("/")) {
    if (component === "**") {
      if (components.at(-1) !== "**") components.push(component);
      continue;
    }
    if (component.includes("**")) {
      throw new RepositoryPatternError(value, `"**" must be a whole path component, as in "acme/**"`);
    }
    // A wildcard stands for at least one character of a valid name: "web-*" can match "web-api", "-*" nothing.
    if (!COMPONENT.test(component.replaceAll("*", "a"))) {
      throw new RepositoryPatternError(
        value,
        `"${component}" is not a name component: lowercase letters and digits, joined by ".", "_", "__" or "-", with "*" as a wildcard`,
      );
    }
    components.push(component);
  }
  const doubleStars = components.filter((c) => c === "**").length;
  const stars = components.filter((c) => c !== "**").reduce((n, c) => n + c.split("*").length - 1, 0);
  if (doubleStars > MAX_DOUBLE_STARS || stars > MAX_STARS) {
    throw new RepositoryPatternError(value, `use at most ${MAX_DOUBLE_STARS} "**" components and ${MAX_STARS} "*" wildcards`);
  }
  return { source: components.join("/"), components, regex: compile(components) };
}

// Matched against "/" + name, each component contributes "/…": "**" in the middle is zero or more
// components, a trailing one at least one.
function compile(components: readonly string[]): RegExp {
  const parts = components.map((c, i) => {
    if (c === "**") return i === components.length - 1 ? "(?:/[^/]+)+" : "(?:/[^/]+)*";
    return `/${c.split("*").map(escape).join("[^/]*")}`;
  });
  return new RegExp(`^${parts.join("")}$`);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether the repository name matches any of the patterns (strings are parsed; invalid ones match nothing). */
export function matchesRepositoryPatterns(name: string, patterns: readonly (string | RepositoryPattern)[]): boolean {
  return patterns.some((p) => {
    const pattern = typeof p === "string" ? tryParse(p) : p;
    return pattern !== undefined && pattern.regex.test(`/${name}`);
  });
}

function tryParse(value: string): RepositoryPattern | undefined {
  try {
    return parseRepositoryPattern(value);
  } catch {
    return undefined;
  }
}

/**
 * Whether every name `inner` matches is matched by `outer`: a key may only hand out patterns within
 * its own. Sound, and complete for the patterns people write: inner's wildcards are treated as
 * literal symbols that only a wildcard of outer at least as wide can consume, so an answer of true
 * is always right; a few exotic pairs that are in fact contained answer false (refused, never widened).
 */
export function patternWithin(inner: RepositoryPattern, outer: RepositoryPattern): boolean {
  const a = inner.components;
  const b = outer.components;
  const memo = new Map<string, boolean>();
  const within = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (j === b.length) result = i === a.length;
    else if (b[j] === "**") {
      const trailing = j === b.length - 1;
      // outer's "**" consumes inner components a[i..k): any kind, at least one when trailing.
      result = false;
      for (let k = trailing ? i + 1 : i; k <= a.length && !result; k++) result = within(k, j + 1);
    } else {
      result = i < a.length && a[i] !== "**" && componentWithin(a[i]!, b[j]!) && within(i + 1, j + 1);
    }
    memo.set(key, result);
    return result;
  };
  return within(0, 0);
}

// inner's "*" is a literal character here: outer's literal characters (never "*") cannot match it.
function componentWithin(inner: string, outer: string): boolean {
  return new RegExp(`^${outer.split("*").map(escape).join(".*")}$`).test(inner);
}

/** Whether every pattern of `inner` lies within one of `outer`. */
export function patternsWithin(inner: readonly RepositoryPattern[], outer: readonly RepositoryPattern[]): boolean {
  return inner.every((p) => outer.some((q) => patternWithin(p, q)));
}
