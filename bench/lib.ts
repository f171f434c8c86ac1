/**
 * Shared benchmark plumbing: the result file format and small timing helpers.
 * A suite is `bench/<name>/index.ts` exporting `run(): Promise<Metric[]>`.
 */

export interface Metric {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The same quantity for a reference measured in the same run. */
  readonly baseline?: number;
  /** value / baseline (or baseline / value for rates; the metric's name says which). */
  readonly ratio?: number;
  /** e.g. ">= 0.5"; applies to `ratio` when present, else to `value`. */
  readonly target?: string;
}

export interface SuiteResult {
  readonly suite: string;
  readonly node: string;
  readonly metrics: readonly Metric[];
}

export type Suite = () => Promise<Metric[]>;

/** Milliseconds taken by `fn`. */
export async function timeMs(fn: () => Promise<void> | void): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Checks a value against a target such as "< 5" or ">= 0.8". */
export function meetsTarget(value: number, target: string): boolean {
  const m = /^\s*(<=|>=|<|>)\s*(-?[\d.]+)\s*$/.exec(target);
  if (!m) return false;
  const limit = Number(m[2]);
  switch (m[1]) {
    case "<":
      return value < limit;
    case "<=":
      return value <= limit;
    case ">":
      return value > limit;
    default:
      return value >= limit;
  }
}

export function rssMb(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}
