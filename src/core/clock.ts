/**
 * Time as a collaborator. Components take a `Clock` so timing logic (timeouts, backoff, intervals) is tested
 * with `ManualClock` by advancing time instead of sleeping.
 */

export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** A monotonic reading in milliseconds (for durations). */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  sleep(ms: number): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class SystemClock implements Clock {
  readonly #timers = new Map<number, NodeJS.Timeout>();
  #next = 1;

  now(): number {
    return Date.now();
  }
  monotonic(): number {
    return performance.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#arm(id, fn, performance.now() + Math.max(0, ms));
    return { id };
  }
  /** Node fires a delay above 2^31-1 ms at once, so a far deadline is reached in steps of at most that. */
  #arm(id: number, fn: () => void, deadline: number): void {
    const t = setTimeout(() => {
      const left = deadline - performance.now();
      if (left > 1) return this.#arm(id, fn, deadline);
      this.#timers.delete(id);
      fn();
    }, Math.min(MAX_TIMER_MS, Math.max(0, deadline - performance.now())));
    // Timers must never keep a shutting-down process alive on their own.
    t.unref();
    this.#timers.set(id, t);
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.#timers.get(handle.id);
    if (t) clearTimeout(t);
    this.#timers.delete(handle.id);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }
}

interface PendingTimer {
  readonly id: number;
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** A clock that moves only when told to. Timers fire in due order during `advance`. */
export class ManualClock implements Clock {
  #now: number;
  #mono = 0;
  #next = 1;
  #seq = 0;
  readonly #timers = new Map<number, PendingTimer>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }
  monotonic(): number {
    return this.#mono;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { id, at: this.#mono + Math.max(0, ms), seq: this.#seq++, fn });
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.#timers.delete(handle.id);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }
  /** Number of timers waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due (including timers set by fired timers),
   * and lets promise continuations run between timers so async chains progress as they would in real time.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#mono + ms;
    await flushMicrotasks();
    for (;;) {
      const due = [...this.#timers.values()]
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers.delete(due.id);
      this.#now += due.at - this.#mono;
      this.#mono = due.at;
      due.fn();
      await flushMicrotasks();
    }
    this.#now += target - this.#mono;
    this.#mono = target;
    await flushMicrotasks();
  }
}

/** Lets queued promise continuations (and a few rounds of their follow-ups) run. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
