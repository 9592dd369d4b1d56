import { readFileSync } from "node:fs";

// Reading /proc/<pid> of the server processes (Linux only).

export interface MemoryStatus {
  /** Resident set size now, KiB. */
  vmRssKiB: number;
  /** Peak resident set size since the process started ("high water mark"), KiB. */
  vmHwmKiB: number;
}

export function readMemory(pid: number): MemoryStatus {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    if (!m) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { vmRssKiB: field("VmRSS"), vmHwmKiB: field("VmHWM") };
}

/** USER_HZ; 100 on every Linux we run on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) the process has used so far, in milliseconds. */
export function readCpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}
