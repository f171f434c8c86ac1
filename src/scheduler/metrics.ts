/**
 * Bounded statistics for SchedulerMetrics: recent samples for averages and p95, per-second buckets for
 * throughput. Memory stays constant however many tasks run.
 */
import type { Priority } from "../core/types.js";
import type { SchedulerMetrics, TaskState } from "./types.js";

type FinalState = Extract<TaskState, "Completed" | "Failed" | "Cancelled" | "TimedOut">;

const COUNT_KEY = { Completed: "completed", Failed: "failed", Cancelled: "cancelled", TimedOut: "timed_out" } as const;

/** The task counts and timings of SchedulerMetrics. */
export class TaskStats {
  readonly #startedAt: number;
  readonly #counts = { completed: 0, failed: 0, cancelled: 0, timed_out: 0 };
  readonly #finishedByPriority: Record<Priority, number> = { Low: 0, Normal: 0, High: 0, Critical: 0 };
  readonly #waitTimes = new SampleRing();
  readonly #runTimes = new SampleRing();
  readonly #rate = new RateWindow(60);

  /** @param startedAt epoch ms the scheduler started (throughput of a young scheduler counts from it). */
  constructor(startedAt: number) {
    this.#startedAt = startedAt;
  }

  /** A task started after waiting `waitMs` in the queue. */
  started(waitMs: number): void {
    this.#waitTimes.add(waitMs);
  }

  /** A run ended after `durationMs`. */
  ran(durationMs: number): void {
    this.#runTimes.add(durationMs);
  }

  finished(state: FinalState, priority: Priority, now: number): void {
    this.#counts[COUNT_KEY[state]]++;
    this.#finishedByPriority[priority]++;
    this.#rate.add(now);
  }

  snapshot(now: number): Omit<SchedulerMetrics, "pending" | "running" | "retrying" | "pending_by_priority" | "paused" | "executors"> {
    return {
      ...this.#counts,
      avg_wait_time: this.#waitTimes.average(),
      p95_wait_time: this.#waitTimes.percentile(95),
      avg_run_time: this.#runTimes.average(),
      p95_run_time: this.#runTimes.percentile(95),
      throughput: this.#rate.rate(now, this.#startedAt),
      finished_by_priority: { ...this.#finishedByPriority },
    };
  }
}

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
