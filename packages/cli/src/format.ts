import { CliError } from "./io.ts";

// Sizes, counts and tables as people read and type them. Sizes are decimal (GB = 10^9 bytes), as
// the plans of DOCR and OCIR are written; binary units (GiB) are accepted too.

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
  k: 1e3, m: 1e6, g: 1e9, t: 1e12,
};

/** "500GB", "1.5 TB", "2GiB", "1000" (bytes), or "unlimited" (null). */
export function parseSize(value: string, flag: string): number | null {
  const text = value.trim().toLowerCase();
  if (text === "unlimited") return null;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text);
  const unit = match ? UNITS[match[2] || "b"] : undefined;
  if (!match || unit === undefined) throw new CliError(`${flag} ${value}: give a size such as 500MB, 5GB, 2GiB or unlimited`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new CliError(`${flag} ${value}: too large`);
  return bytes;
}

/** A non-negative integer, or "unlimited" (null). */
export function parseCount(value: string, flag: string): number | null {
  const text = value.trim().toLowerCase();
  if (text === "unlimited") return null;
  if (!/^\d{1,15}$/.test(text)) throw new CliError(`${flag} ${value}: give a whole number or unlimited`);
  return Number(text);
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let value = n;
  let unit = "B";
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  const shown = value >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, "");
  return `${shown} ${unit}`;
}

export function formatLimit(limit: number | null, format: (n: number) => string = String): string {
  return limit === null ? "unlimited" : format(limit);
}

/** "2025-01-02 03:04" from an ISO 8601 instant (UTC); "-" for none. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  return iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, "Z");
}

/** Columns padded to their widest cell, two spaces apart, headers in capitals. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return `${[line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join("\n")}\n`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
