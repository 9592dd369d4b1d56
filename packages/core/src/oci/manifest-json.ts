// A manifest must mean the same thing to the registry and to every client. JavaScript's JSON.parse
// matches keys exactly and keeps the last of duplicates; Go's encoding/json (docker, containerd,
// skopeo, crane) also matches a key to a field case-insensitively, with Unicode simple folding
// ("ſ" is "s", the Kelvin sign "K" is "k"), the last match winning. So `"Layers"` beside `"layers"`,
// or a lone `"Subject"`, would be content the registry never validated. This scan refuses such
// keys, duplicate keys, a byte-order mark (Go refuses it; TextDecoder would silently drop it) and
// nesting deeper than any real manifest needs, before the schema check.

/** A real manifest nests about five levels (index → manifests → descriptor → platform → os.features). */
export const MAX_MANIFEST_DEPTH = 32;

// Every field name of the image spec's manifest, index, descriptor and platform, and Docker's schema 2.
const SPEC_FIELDS = [
  "schemaVersion",
  "mediaType",
  "artifactType",
  "config",
  "layers",
  "manifests",
  "subject",
  "annotations",
  "digest",
  "size",
  "urls",
  "data",
  "platform",
  "architecture",
  "os",
  "os.version",
  "os.features",
  "variant",
  "features",
];

/** Go's case-insensitive key matching: ASCII case plus the two non-ASCII letters that fold into ASCII. */
export function foldKey(key: string): string {
  return key.replace(/\u017f/g, "s").replace(/\u212a/g, "k").toLowerCase();
}

const FOLDED_FIELDS = new Map(SPEC_FIELDS.map((f) => [foldKey(f), f]));

/** Why the manifest's JSON text is ambiguous or unreasonable, or undefined when it is neither. */
export function manifestJsonProblem(bytes: Uint8Array, text: string): string | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return "the body starts with a UTF-8 byte-order mark; send the JSON without it";
  return new KeyScan(text).run();
}

interface Container {
  kind: "object" | "array";
  /** Where it is, for messages: "layers[].Digest". */
  path: string;
  /** Annotations are maps of free-form keys: exact duplicates matter there, letter case does not. */
  isMap: boolean;
  keys: Map<string, string>;
  expectKey: boolean;
  /** The key whose value comes next (objects only). */
  pendingKey?: string;
}

/**
 * One pass over the text, before JSON.parse so that absurd nesting costs nothing (on invalid JSON it
 * may stop early; JSON.parse then says why): tracks containers and the keys of each object,
 * decoding escapes ("\u004cayers" is "Layers").
 */
class KeyScan {
  private readonly stack: Container[] = [];
  constructor(private readonly text: string) {}

  run(): string | undefined {
    const text = this.text;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        if (this.stack.length >= MAX_MANIFEST_DEPTH) return `the JSON nests deeper than ${MAX_MANIFEST_DEPTH} levels; no manifest needs that`;
        const parent = this.stack.at(-1);
        const path = this.childPath(parent);
        const isMap = parent?.kind === "object" && parent.pendingKey === "annotations";
        this.stack.push({ kind: c === 0x7b ? "object" : "array", path, isMap, keys: new Map(), expectKey: c === 0x7b });
      } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        this.stack.pop();
      } else if (c === 0x2c /* , */) {
        const top = this.stack.at(-1);
        if (top?.kind === "object") top.expectKey = true;
      } else if (c === 0x22 /* " */) {
        const end = stringEnd(text, i);
        const top = this.stack.at(-1);
        if (top?.kind === "object" && top.expectKey) {
          const key = decodeString(text.slice(i, end + 1));
          // Not valid JSON: JSON.parse says why.
          if (key === undefined) return undefined;
          const problem = this.key(top, key);
          if (problem) return problem;
        }
        i = end;
      }
    }
    return undefined;
  }

  private childPath(parent: Container | undefined): string {
    if (!parent) return "";
    if (parent.kind === "array") return `${parent.path}[]`;
    return parent.path ? `${parent.path}.${parent.pendingKey}` : (parent.pendingKey ?? "");
  }

  private key(object: Container, key: string): string | undefined {
    object.expectKey = false;
    object.pendingKey = key;
    const where = object.path ? ` in ${object.path}` : "";
    const shown = JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key);
    const folded = object.isMap ? key : foldKey(key);
    const earlier = object.keys.get(folded);
    if (earlier !== undefined) {
      return earlier === key
        ? `the key ${shown} appears twice${where}; clients disagree on which one counts`
        : `the keys ${JSON.stringify(earlier)} and ${shown}${where} differ only by letter case; clients read them as one field`;
    }
    object.keys.set(folded, key);
    if (!object.isMap) {
      const field = FOLDED_FIELDS.get(folded);
      if (field !== undefined && field !== key) {
        return `the key ${shown}${where} differs from the field "${field}" only by letter case; Go clients would read it as "${field}", so write "${field}"`;
      }
    }
    return undefined;
  }
}

function decodeString(literal: string): string | undefined {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return undefined;
  }
}

/** Index of the closing quote of the string starting at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22) return i;
  }
  return text.length - 1;
}
