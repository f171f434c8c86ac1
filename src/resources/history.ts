/** A fixed-size ring buffer of snapshots, oldest overwritten first. */
import type { ResourceSnapshot } from "./types.js";

export class SnapshotRing {
  readonly #items: (ResourceSnapshot | undefined)[];
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#items = new Array<ResourceSnapshot | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(s: ResourceSnapshot): void {
    this.#items[this.#next] = s;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Snapshots taken at or after `from` (epoch ms), oldest first. */
  since(from: number): ResourceSnapshot[] {
    const out: ResourceSnapshot[] = [];
    const start = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let i = 0; i < this.#size; i++) {
      const s = this.#items[(start + i) % this.capacity]!;
      if (s.timestamp >= from) out.push(s);
    }
    return out;
  }

  latest(): ResourceSnapshot | undefined {
    return this.#size === 0 ? undefined : this.#items[(this.#next - 1 + this.capacity) % this.capacity];
  }
}
