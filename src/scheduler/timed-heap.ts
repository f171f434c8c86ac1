/**
 * Items due at a monotonic time, in a heap with one clock timer for the earliest rather than one per item:
 * tasks whose scheduled_time is ahead, and running tasks' deadlines.
 */
import type { Clock, TimerHandle } from "../core/clock.js";

interface Timed {
  readonly at: number;
  readonly seq: number;
  dead: boolean;
}

/**
 * A binary min-heap on (time, seq).
 * Removal is lazy; when removed items outnumber live ones the heap is rebuilt, so memory follows the live
 * count even when most items are removed long before their time.
 */
class DelayHeap<T extends Timed> {
  #items: T[] = [];
  #dead = 0;

  get length(): number {
    return this.#items.length - this.#dead;
  }

  /** Marks an item removed. */
  remove(item: T): void {
    if (item.dead) return;
    item.dead = true;
    this.#dead++;
    if (this.#dead > 1024 && this.#dead * 2 > this.#items.length) this.#rebuild();
  }

  #rebuild(): void {
    const live = this.#items.filter((x) => !x.dead);
    this.#items = [];
    this.#dead = 0;
    for (const x of live) this.push(x);
  }

  push(item: T): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i] as T, a[p] as T)) break;
      [a[i], a[p]] = [a[p] as T, a[i] as T];
      i = p;
    }
  }

  /** The earliest live item. */
  peek(): T | undefined {
    while (this.#items.length && (this.#items[0] as T).dead) {
      this.#popTop();
      this.#dead--;
    }
    return this.#items[0];
  }

  /** Removes and returns the earliest live item (it is marked dead). */
  pop(): T | undefined {
    const top = this.peek();
    if (top) {
      this.#popTop();
      top.dead = true;
    }
    return top;
  }

  #popTop(): void {
    const a = this.#items;
    const last = a.pop() as T;
    if (a.length === 0) return;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && less(a[l] as T, a[m] as T)) m = l;
      if (r < a.length && less(a[r] as T, a[m] as T)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m] as T, a[i] as T];
      i = m;
    }
  }

  *live(): IterableIterator<T> {
    for (const x of this.#items) if (!x.dead) yield x;
  }
}

function less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A DelayHeap whose due items are handed to `onDue` when the clock reaches them; `afterDue` runs once per firing. */
export class TimedHeap<T extends Timed> {
  readonly #heap = new DelayHeap<T>();
  readonly #clock: Clock;
  readonly #onDue: (item: T, now: number) => void;
  readonly #afterDue: (() => void) | undefined;
  #timer: { handle: TimerHandle; at: number } | undefined;

  constructor(clock: Clock, onDue: (item: T, now: number) => void, afterDue?: () => void) {
    this.#clock = clock;
    this.#onDue = onDue;
    this.#afterDue = afterDue;
  }

  get length(): number {
    return this.#heap.length;
  }

  push(item: T): void {
    this.#heap.push(item);
    this.#arm(item.at);
  }

  /** Takes an item out; the timer armed for it, if any, finds nothing due and moves on to the next. */
  remove(item: T): void {
    this.#heap.remove(item);
  }

  live(): IterableIterator<T> {
    return this.#heap.live();
  }

  stop(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer.handle);
    this.#timer = undefined;
  }

  #arm(at: number): void {
    if (this.#timer && this.#timer.at <= at) return;
    if (this.#timer) this.#clock.clearTimeout(this.#timer.handle);
    const handle = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#fire();
    }, at - this.#clock.monotonic());
    this.#timer = { handle, at };
  }

  #fire(): void {
    const now = this.#clock.monotonic();
    for (let item = this.#heap.peek(); item && item.at <= now; item = this.#heap.peek()) {
      this.#heap.pop();
      this.#onDue(item, now);
    }
    const next = this.#heap.peek();
    if (next) this.#arm(next.at);
    this.#afterDue?.();
  }
}
