/**
 * The ready queue: one FIFO lane per priority, so "highest priority first, first-come within a priority" is
 * a look at four lane heads rather than a heap reshuffle. Removal is lazy (an entry is marked dead and
 * skipped when it reaches a head), which keeps cancel and re-prioritise O(1).
 *
 * Aging: a waiting entry counts one level higher per `agingMs` it has waited (capped at Critical). Lane heads
 * are the oldest entries of their lane, so comparing heads is enough to find the most urgent entry.
 */
import { PRIORITY_VALUE, type Priority } from "../core/types.js";

export interface QueueEntry<T> {
  readonly item: T;
  readonly priority: Priority;
  /** Global arrival order; FIFO ties are broken on it. */
  readonly seq: number;
  /** Monotonic ms when it joined the queue. */
  readonly enqueued_at: number;
  dead: boolean;
}

/** An array used as a FIFO with an advancing head, compacted when the dead prefix grows. */
class Lane<T> {
  items: QueueEntry<T>[] = [];
  head = 0;

  peek(): QueueEntry<T> | undefined {
    while (this.head < this.items.length) {
      const e = this.items[this.head] as QueueEntry<T>;
      if (!e.dead) return e;
      this.head++;
    }
    this.compact();
    return undefined;
  }

  shift(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) this.compact();
  }

  /** Inserts in seq order (entries returned to the queue keep their place). */
  insertOrdered(entry: QueueEntry<T>): void {
    const last = this.items[this.items.length - 1];
    if (!last || last.seq < entry.seq) {
      this.items.push(entry);
      return;
    }
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.items[mid] as QueueEntry<T>).seq < entry.seq) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, entry);
  }

  compact(): void {
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}

export class TaskQueue<T> {
  readonly #lanes: Lane<T>[];
  readonly #byPriority: boolean;
  readonly #agingMs: number;
  #size = 0;

  /**
   * @param byPriority false: one FIFO lane, priorities ignored (enable_priority_scheduling off).
   * @param agingMs one level gained per this many ms waited; 0 disables aging.
   */
  constructor(byPriority: boolean, agingMs: number) {
    this.#byPriority = byPriority;
    this.#agingMs = agingMs;
    this.#lanes = Array.from({ length: byPriority ? 4 : 1 }, () => new Lane<T>());
  }

  get size(): number {
    return this.#size;
  }

  #lane(priority: Priority): Lane<T> {
    return this.#byPriority ? (this.#lanes[PRIORITY_VALUE[priority] - 1] as Lane<T>) : (this.#lanes[0] as Lane<T>);
  }

  /** Appends (or, for an entry coming back from waiting, re-inserts at its original place). */
  push(entry: QueueEntry<T>): void {
    this.#lane(entry.priority).insertOrdered(entry);
    this.#size++;
  }

  /** Marks an entry removed; it is skipped when it reaches its lane's head. */
  remove(entry: QueueEntry<T>): void {
    if (entry.dead) return;
    entry.dead = true;
    this.#size--;
  }

  /** The most urgent live entry, without removing it. */
  peek(now: number): QueueEntry<T> | undefined {
    if (!this.#byPriority) return this.#lanes[0]?.peek();
    let best: QueueEntry<T> | undefined;
    let bestLevel = -1;
    for (let i = 3; i >= 0; i--) {
      const head = (this.#lanes[i] as Lane<T>).peek();
      if (!head) continue;
      const level = this.#effectiveLevel(head, i + 1, now);
      if (level > bestLevel || (level === bestLevel && best !== undefined && head.seq < best.seq && this.#agingMs > 0)) {
        best = head;
        bestLevel = level;
      }
      // Without aging the highest non-empty lane always wins.
      if (this.#agingMs === 0) break;
    }
    return best;
  }

  /** Removes and returns the most urgent live entry. */
  pop(now: number): QueueEntry<T> | undefined {
    const e = this.peek(now);
    if (!e) return undefined;
    this.#lane(e.priority).shift();
    e.dead = true;
    this.#size--;
    return e;
  }

  #effectiveLevel(entry: QueueEntry<T>, base: number, now: number): number {
    if (this.#agingMs === 0) return base;
    return Math.min(4, base + Math.floor((now - entry.enqueued_at) / this.#agingMs));
  }

  /** Live entries in dispatch order of their lanes (for listing). */
  *entries(): IterableIterator<QueueEntry<T>> {
    for (let i = this.#lanes.length - 1; i >= 0; i--) {
      const lane = this.#lanes[i] as Lane<T>;
      for (let j = lane.head; j < lane.items.length; j++) {
        const e = lane.items[j] as QueueEntry<T>;
        if (!e.dead) yield e;
      }
    }
  }
}

/**
 * A binary min-heap on (time, seq): tasks whose scheduled_time is ahead, or running tasks' deadlines.
 * Removal is lazy; when removed items outnumber live ones the heap is rebuilt, so memory follows the live
 * count even when most items are removed long before their time.
 */
export class DelayHeap<T extends { readonly at: number; readonly seq: number; dead: boolean }> {
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
