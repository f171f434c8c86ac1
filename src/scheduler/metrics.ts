/**
 * Bounded statistics for SchedulerMetrics: recent samples for averages and p95, per-second buckets for
 * throughput. Memory stays constant however many tasks run.
 */

/** The last `capacity` samples. */
export class SampleRing {
  readonly #values: Float64Array;
  #next = 0;
  #count = 0;

  constructor(capacity = 1024) {
    this.#values = new Float64Array(capacity);
  }

  add(v: number): void {
    this.#values[this.#next] = v;
    this.#next = (this.#next + 1) % this.#values.length;
    if (this.#count < this.#values.length) this.#count++;
  }

  average(): number {
    if (this.#count === 0) return 0;
    let sum = 0;
    for (let i = 0; i < this.#count; i++) sum += this.#values[i] as number;
    return sum / this.#count;
  }

  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const sorted = Array.from(this.#values.subarray(0, this.#count)).sort((a, b) => a - b);
    const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[idx] as number;
  }
}

/** Events per second over a sliding window of whole seconds. */
export class RateWindow {
  readonly #buckets: Float64Array;
  readonly #stamps: Float64Array;

  constructor(readonly seconds = 60) {
    this.#buckets = new Float64Array(seconds);
    this.#stamps = new Float64Array(seconds).fill(-1);
  }

  add(nowMs: number): void {
    const sec = Math.floor(nowMs / 1000);
    const i = sec % this.seconds;
    if (this.#stamps[i] !== sec) {
      this.#stamps[i] = sec;
      this.#buckets[i] = 0;
    }
    this.#buckets[i] = (this.#buckets[i] as number) + 1;
  }

  /** Events per second over the window ending now (only seconds since `sinceMs` count, for a young scheduler). */
  rate(nowMs: number, sinceMs: number): number {
    const sec = Math.floor(nowMs / 1000);
    let total = 0;
    for (let i = 0; i < this.seconds; i++) {
      const s = this.#stamps[i] as number;
      if (s >= 0 && sec - s < this.seconds) total += this.#buckets[i] as number;
    }
    const span = Math.min(this.seconds, Math.max(1, (nowMs - sinceMs) / 1000));
    return total / span;
  }
}
