import { cpus, platform, release, totalmem, arch } from "node:os";
import { readFileSync } from "node:fs";

// The side-by-side table and the machine description.

export type Better = "lower" | "higher";

export interface Row {
  metric: string;
  unit: string;
  better: Better;
  stratus: number | null;
  peer: number | null;
  /** Shown in the notes column. */
  note?: string;
}

export function ratio(row: Row): number | null {
  if (row.stratus === null || row.peer === null || row.peer === 0) return null;
  return row.stratus / row.peer;
}

function fmt(n: number | null, digits: number): string {
  if (n === null || !Number.isFinite(n)) return "n/a";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function digitsFor(n: number | null): number {
  if (n === null) return 0;
  const a = Math.abs(n);
  return a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : 3;
}

/** Stratus/peer ratio, marked with whether Stratus comes out better or worse on that metric. */
function verdict(row: Row): string {
  const r = ratio(row);
  if (r === null) return "";
  if (r > 0.9 && r < 1.1) return "~ same";
  const stratusBetter = row.better === "lower" ? r < 1 : r > 1;
  return stratusBetter ? "Stratus better" : "Stratus worse";
}

export function renderTable(rows: Row[], peerName: string): string {
  const header = ["metric", "unit", "better", "Stratus", peerName, "Stratus/peer", ""];
  const body = rows.map((r) => [
    r.metric,
    r.unit,
    r.better,
    fmt(r.stratus, digitsFor(r.stratus)),
    fmt(r.peer, digitsFor(r.peer)),
    ratio(r) === null ? "n/a" : `${fmt(ratio(r), 2)}x`,
    verdict(r),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]!.length)));
  const numeric = new Set([3, 4, 5]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ").trimEnd();
  return [line(header), sep, ...body.map(line)].join("\n");
}

export interface Machine {
  os: string;
  kernel: string;
  distro: string | null;
  arch: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  node: string;
  dockerRegistry: string | null;
  skopeo: string | null;
}

export function describeMachine(dockerRegistry: string | null, skopeo: string | null): Machine {
  let distro: string | null = null;
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? null;
  } catch {
    // not Linux, or no os-release
  }
  const list = cpus();
  return {
    os: platform(),
    kernel: release(),
    distro,
    arch: arch(),
    cpuModel: list[0]?.model ?? "unknown",
    cpus: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    dockerRegistry,
    skopeo,
  };
}
