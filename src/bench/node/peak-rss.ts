import { readFileSync } from 'node:fs';

/**
 * This process's peak resident set in MB. On Linux it is VmHWM from /proc/self/status: `ru_maxrss` survives fork
 * and exec, so a child started by a large parent (the bench driver) would report the parent's size as its own peak.
 * Elsewhere it falls back to `ru_maxrss`.
 */
export function peakRssMb(): number {
  try {
    const kb = /VmHWM:\s+(\d+)\s*kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb) return +(Number(kb) / 1024).toFixed(1);
  } catch {
    // not Linux: no /proc
  }
  return +(process.resourceUsage().maxRSS / 1024).toFixed(1);
}
