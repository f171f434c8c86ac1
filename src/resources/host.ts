/**
 * Real host figures: memory (MemAvailable from /proc/meminfo), cores, cpu utilisation between two calls,
 * load average, and the size and free space of the data dir's filesystem.
 */
import { cpus, freemem, loadavg, totalmem, availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { mkdir, statfs } from "node:fs/promises";

export interface DiskFigures {
  readonly total: number;
  /** Free to an unprivileged writer. */
  readonly available: number;
}

/** The data dir's filesystem (created first so a fresh runtime can measure it). */
export async function diskOf(dir: string): Promise<DiskFigures> {
  await mkdir(dir, { recursive: true });
  const s = await statfs(dir);
  return { total: s.blocks * s.bsize, available: s.bavail * s.bsize };
}

/** Memory a new process can use without swapping; falls back to free memory where /proc is absent. */
export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return freemem();
}

export function hostMemory(): number {
  return totalmem();
}

export function hostCores(): number {
  return availableParallelism();
}

export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = loadavg();
  return [a, b, c];
}

/** Busy share of all cores between successive calls of `next` (the first call covers time since boot). */
export class CpuUtilization {
  #busy = 0;
  #total = 0;

  next(): number {
    let busy = 0;
    let total = 0;
    for (const c of cpus()) {
      const t = c.times;
      const all = t.user + t.nice + t.sys + t.irq + t.idle;
      total += all;
      busy += all - t.idle;
    }
    const db = busy - this.#busy;
    const dt = total - this.#total;
    this.#busy = busy;
    this.#total = total;
    return dt > 0 ? Math.min(1, Math.max(0, db / dt)) : 0;
  }
}
