/**
 * Group commit: writes issued in the same turn of the event loop (and, while a commit is in progress, every
 * write issued meanwhile) share one transaction, so N concurrent acknowledgements cost one fsync instead of N.
 * Each write's promise resolves only after the transaction holding it committed. When a batch fails, its
 * writes are retried one per transaction so only the faulty write fails and its neighbours still commit.
 */
import { StoreError } from "../core/errors.js";

/**
 * One write: runs inside a transaction on connection `C` and returns its result. `arg` is what it was
 * submitted with, so a hot write can be one shared function plus its parameters rather than a fresh closure.
 */
export type Write<C, T = unknown, A = undefined> = (conn: C, arg: A) => T | Promise<T>;

/** A queued write and its argument, as a batch hands them to the transaction. */
export interface Queued<C> {
  readonly write: Write<C, unknown, unknown>;
  readonly arg: unknown;
}

/** Runs `batch` in one transaction, in order, and commits; throws (having rolled back) if any write failed. */
export type CommitBatch<C> = (batch: readonly Queued<C>[]) => Promise<unknown[]>;

interface Pending<C> extends Queued<C> {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

export interface GroupCommitterOptions {
  /** Most writes in one transaction. */
  readonly maxBatch: number;
  /** Turns a driver error into a StoreError. */
  readonly mapError: (err: unknown) => unknown;
  /** Where the store lives, for the STORE_CLOSED message. */
  readonly location: string;
}

export class GroupCommitter<C> {
  readonly #commit: CommitBatch<C>;
  readonly #options: GroupCommitterOptions;
  #queue: Pending<C>[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  /** Batches committed and writes in them, for tests and benchmarks. */
  readonly stats = { batches: 0, writes: 0 };

  constructor(commit: CommitBatch<C>, options: GroupCommitterOptions) {
    this.#commit = commit;
    this.#options = options;
  }

  /** Queues `write` (to run with `arg`); resolves with its result after its transaction commits. */
  submit<T>(write: Write<C, T>): Promise<T>;
  submit<T, A>(write: Write<C, T, A>, arg: A): Promise<T>;
  submit<T, A>(write: Write<C, T, A>, arg?: A): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new StoreError("STORE_CLOSED", `The state store ${this.#options.location} is closed`, {
          details: { location: this.#options.location },
        }),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write: write as Write<C, unknown, unknown>, arg, resolve: resolve as (v: unknown) => void, reject });
      this.#running ??= this.#drain();
    });
  }

  /** Resolves when every write submitted so far has settled. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Refuses new writes, then waits for queued ones to commit. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  async #drain(): Promise<void> {
    try {
      do {
        // Yield before each batch so writes issued in the same turn as the first one join it, and so a long
        // queue does not hold the event loop: callers hear of their commit, and I/O arriving meanwhile joins
        // the next batch, before it commits.
        await new Promise<void>((resolve) => setImmediate(resolve));
        await this.#runBatch(this.#queue.splice(0, this.#options.maxBatch));
      } while (this.#queue.length);
    } finally {
      this.#running = undefined;
    }
  }

  async #runBatch(batch: Pending<C>[]): Promise<void> {
    try {
      const results = await this.#commit(batch);
      this.stats.batches++;
      this.stats.writes += batch.length;
      batch.forEach((p, i) => p.resolve(results[i]));
      return;
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(this.#options.mapError(err));
        return;
      }
    }
    // Isolate the faulty write: every other write of the batch still commits.
    for (const p of batch) {
      try {
        const [result] = await this.#commit([p]);
        this.stats.batches++;
        this.stats.writes++;
        p.resolve(result);
      } catch (err) {
        p.reject(this.#options.mapError(err));
      }
    }
  }
}
