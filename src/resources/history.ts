/** A ring buffer of snapshots, oldest overwritten first; it grows to its capacity only as samples arrive. */
import type { ResourceSnapshot } from "./types.js";

export class SnapshotRing {
  readonly #items: ResourceSnapshot[] = [];
  /** Where the next push goes once full. */
  #next = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#items.length;
  }

  push(s: ResourceSnapshot): void {
    if (this.#items.length < this.capacity) {
      this.#items.push(s);
      return;
    }
    this.#items[this.#next] = s;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** Snapshots taken at or after `from` (epoch ms), oldest first. */
  since(from: number): ResourceSnapshot[] {
    const n = this.#items.length;
    const start = n < this.capacity ? 0 : this.#next;
    const out: ResourceSnapshot[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.#items[(start + i) % n]!;
      if (s.timestamp >= from) out.push(s);
    }
    return out;
  }
}
