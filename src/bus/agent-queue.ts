/**
 * One agent's undelivered messages: Critical first, then High, Normal, Low; first in, first out within a
 * priority. Push and shift are O(1) amortised (a read index per lane, compacted as it grows).
 */
import { PRIORITY_VALUE, type Priority } from "../core/types.js";

class Lane<T> {
  items: T[] = [];
  head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  /** Removes (and returns) every item matching `pred`, keeping the order of the rest. */
  removeWhere(pred: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      (pred(item) ? removed : kept).push(item);
    }
    if (removed.length) {
      this.items = kept;
      this.head = 0;
    }
    return removed;
  }
}

export class AgentQueue<T extends { readonly priority: Priority }> {
  // Index 0 is the most urgent lane.
  readonly #lanes: Lane<T>[] = [new Lane(), new Lane(), new Lane(), new Lane()];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    (this.#lanes[4 - PRIORITY_VALUE[item.priority]] as Lane<T>).push(item);
    this.#size++;
  }

  /** The most urgent, oldest item. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    for (const lane of this.#lanes) {
      if (lane.size) {
        this.#size--;
        return lane.shift();
      }
    }
    return undefined;
  }

  removeWhere(pred: (item: T) => boolean): T[] {
    const removed = this.#lanes.flatMap((lane) => lane.removeWhere(pred));
    this.#size -= removed.length;
    return removed;
  }

  /** Empties the queue, most urgent first. */
  drain(): T[] {
    return this.removeWhere(() => true);
  }
}
