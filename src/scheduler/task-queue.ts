/**
 * The ready queue: one FIFO lane per priority, so "highest priority first, first-come within a priority" is
 * a look at four lane heads rather than a heap reshuffle. Items are queued as they are (no wrapper object per
 * entry: enqueueing 10,000 tasks is benchmarked). Removal is lazy — an item's `queued` no longer matches the
 * seq its lane holds for it, and the stale position is skipped when it reaches a head — which keeps cancel
 * and re-prioritise O(1).
 *
 * Aging: a waiting item counts one level higher per `agingMs` it has waited (capped at Critical). Lane heads
 * are the oldest items of their lane, so comparing heads is enough to find the most urgent item.
 *
 * Beside it, the tasks that left the queue for an agent not able to take them yet.
 */
import type { AgentId } from "../core/ids.js";
import { PRIORITY_VALUE, type Priority } from "../core/types.js";

/** What the queue needs of an item. */
export interface Queueable {
  /** The seq of the item's live queue position (arrival order; FIFO ties break on it), or -1 when not queued. */
  queued: number;
  /** Monotonic ms when it joined the queue (aging). */
  readonly enqueued_mono: number;
}

/** Parallel arrays used as a FIFO with an advancing head, compacted when the consumed prefix grows. */
class Lane<T extends Queueable> {
  items: T[] = [];
  seqs: number[] = [];
  head = 0;

  /** Index of the first live position, or -1. */
  peek(): number {
    while (this.head < this.items.length) {
      if ((this.items[this.head] as T).queued === this.seqs[this.head]) return this.head;
      this.head++;
    }
    if (this.head > 0) this.compact();
    return -1;
  }

  shift(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) this.compact();
  }

  /** Inserts in seq order (items returned to the queue keep their place). */
  insertOrdered(item: T, seq: number): void {
    const n = this.seqs.length;
    if (n === 0 || (this.seqs[n - 1] as number) < seq) {
      this.items.push(item);
      this.seqs.push(seq);
      return;
    }
    let lo = this.head;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.seqs[mid] as number) < seq) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, item);
    this.seqs.splice(lo, 0, seq);
  }

  compact(): void {
    this.items = this.items.slice(this.head);
    this.seqs = this.seqs.slice(this.head);
    this.head = 0;
  }
}

export class TaskQueue<T extends Queueable> {
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

  /** Queues `item` at `priority`; `seq` orders it (an item coming back from waiting keeps its old seq and place). */
  push(item: T, priority: Priority, seq: number): void {
    item.queued = seq;
    (this.#byPriority ? (this.#lanes[PRIORITY_VALUE[priority] - 1] as Lane<T>) : (this.#lanes[0] as Lane<T>)).insertOrdered(item, seq);
    this.#size++;
  }

  /** Takes `item` out; its position is skipped when it reaches its lane's head. */
  remove(item: T): void {
    if (item.queued < 0) return;
    item.queued = -1;
    this.#size--;
  }

  /** Removes and returns the most urgent item. */
  pop(now: number): T | undefined {
    let best: Lane<T> | undefined;
    let bestIndex = -1;
    let bestLevel = -1;
    for (let i = this.#lanes.length - 1; i >= 0; i--) {
      const lane = this.#lanes[i] as Lane<T>;
      const at = lane.peek();
      if (at < 0) continue;
      if (this.#agingMs === 0) {
        // Without aging the highest non-empty lane always wins.
        best = lane;
        bestIndex = at;
        break;
      }
      const level = Math.min(4, i + 1 + Math.floor((now - (lane.items[at] as T).enqueued_mono) / this.#agingMs));
      if (level > bestLevel || (level === bestLevel && best && (lane.seqs[at] as number) < (best.seqs[bestIndex] as number))) {
        best = lane;
        bestIndex = at;
        bestLevel = level;
      }
    }
    if (!best) return undefined;
    const item = best.items[bestIndex] as T;
    best.shift();
    item.queued = -1;
    this.#size--;
    return item;
  }

  /** Queued items in dispatch order of their lanes (for listing). */
  *entries(): IterableIterator<T> {
    for (let i = this.#lanes.length - 1; i >= 0; i--) {
      const lane = this.#lanes[i] as Lane<T>;
      for (let j = lane.head; j < lane.items.length; j++) {
        const item = lane.items[j] as T;
        if (item.queued === lane.seqs[j]) yield item;
      }
    }
  }
}

/** Tasks parked per agent until that agent can take them (suspended, initializing, a failure being decided). */
export class AgentWaitLists<T> {
  readonly #lists = new Map<AgentId, T[]>();
  #size = 0;

  /** How many items wait, over all agents. */
  get size(): number {
    return this.#size;
  }

  has(agentId: AgentId): boolean {
    return this.#lists.has(agentId);
  }

  add(agentId: AgentId, item: T): void {
    let list = this.#lists.get(agentId);
    if (!list) this.#lists.set(agentId, (list = []));
    list.push(item);
    this.#size++;
  }

  remove(agentId: AgentId, item: T): void {
    const list = this.#lists.get(agentId);
    const i = list ? list.indexOf(item) : -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    this.#size--;
    if (list.length === 0) this.#lists.delete(agentId);
  }

  /** Removes and returns the agent's items in the order they were parked. */
  take(agentId: AgentId): T[] | undefined {
    const list = this.#lists.get(agentId);
    if (!list) return undefined;
    this.#lists.delete(agentId);
    this.#size -= list.length;
    return list;
  }

  *items(): IterableIterator<T> {
    for (const list of this.#lists.values()) yield* list;
  }
}
