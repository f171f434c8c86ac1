/**
 * The dead-letter queue: messages the bus accepted but could not deliver, kept (up to
 * `dead_letter_queue_size`) so an operator can list and replay them. Bounded oldest-out; an eviction is
 * reported by the caller as an event, never silent.
 */
import type { DeadLetter } from "./types.js";

export class DeadLetterQueue {
  readonly #entries = new Map<string, DeadLetter>();

  constructor(private readonly capacity: number) {}

  /** Adds an entry; returns the entry evicted to make room, if any. */
  add(entry: DeadLetter): DeadLetter | undefined {
    this.#entries.delete(entry.id);
    let evicted: DeadLetter | undefined;
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) {
        evicted = this.#entries.get(oldest.value);
        this.#entries.delete(oldest.value);
      }
    }
    this.#entries.set(entry.id, entry);
    return evicted;
  }

  get(id: string): DeadLetter | undefined {
    return this.#entries.get(id);
  }

  delete(id: string): boolean {
    return this.#entries.delete(id);
  }

  /** Oldest first. */
  list(): DeadLetter[] {
    return [...this.#entries.values()];
  }

  get size(): number {
    return this.#entries.size;
  }
}
