import { readMemory } from "./proc.ts";

// Polls VmRSS (and VmHWM) of a process every `intervalMs` while a scenario runs.

export interface RssSample {
  baselineKiB: number;
  peakSampledKiB: number;
  /** VmHWM when sampling stopped: the lifetime peak, start-up included. */
  vmHwmKiB: number;
  samples: number;
}

export function startRssSampler(pid: number, intervalMs = 50): { stop(): RssSample } {
  const first = readMemory(pid);
  let peak = first.vmRssKiB;
  let hwm = first.vmHwmKiB;
  let samples = 1;
  const sample = () => {
    try {
      const m = readMemory(pid);
      peak = Math.max(peak, m.vmRssKiB);
      hwm = Math.max(hwm, m.vmHwmKiB);
      samples++;
    } catch {
      // the process is gone; the caller will notice
    }
  };
  const timer = setInterval(sample, intervalMs);
  let result: RssSample | undefined;
  return {
    /** Idempotent: the first call takes a last sample and freezes the figures. */
    stop() {
      if (!result) {
        clearInterval(timer);
        sample();
        result = { baselineKiB: first.vmRssKiB, peakSampledKiB: peak, vmHwmKiB: hwm, samples };
      }
      return result;
    },
  };
}
