/**
 * Ed25519 verification on worker threads. Verifying is the most expensive step of receiving a message, and
 * it needs only public data (the sender's public key, the signed bytes and the signature), so it can run in
 * parallel with the main thread's signing, key derivation and AEAD work without any secret leaving it.
 * Requests made in the same tick travel to a worker as one batch, so the thread hop is paid per batch.
 */
import { Worker } from "node:worker_threads";

// Plain CommonJS run with `eval`, so the pool works the same from TypeScript sources and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createPublicKey, verify } = require("node:crypto");
const keys = new Map();
function keyFor(raw) {
  const x = Buffer.from(raw).toString("base64url");
  let key = keys.get(x);
  if (!key) {
    if (keys.size > 16384) keys.clear();
    key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
    keys.set(x, key);
  }
  return key;
}
parentPort.on("message", ({ id, jobs }) => {
  const results = jobs.map((j) => {
    try {
      return verify(null, j.data, keyFor(j.key), j.sig);
    } catch {
      return false;
    }
  });
  parentPort.postMessage({ id, results });
});
`;

interface Job {
  readonly key: Uint8Array;
  readonly data: Uint8Array;
  readonly sig: Uint8Array;
  readonly resolve: (ok: boolean) => void;
}

interface Slot {
  readonly worker: Worker;
  /** batches sent and not yet answered */
  readonly inflight: Map<number, Job[]>;
  jobs: number;
}

/** Jobs per worker beyond which the caller is better off verifying on its own thread. */
const BACKLOG_PER_THREAD = 32;

export class VerifyPool {
  readonly #threads: number;
  /** Spawned on first use: a runtime that never receives a message never starts a thread. */
  #slots: Slot[] = [];
  #queue: Job[] = [];
  #flushScheduled = false;
  #nextBatch = 1;
  #closed = false;

  constructor(threads: number) {
    this.#threads = threads;
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = { worker, inflight: new Map(), jobs: 0 };
    worker.on("message", ({ id, results }: { id: number; results: boolean[] }) => {
      const jobs = slot.inflight.get(id);
      if (!jobs) return;
      slot.inflight.delete(id);
      slot.jobs -= jobs.length;
      jobs.forEach((job, i) => job.resolve(results[i] === true));
    });
    // A worker that dies fails its pending checks closed: the messages are rejected, never accepted.
    worker.on("error", () => this.#fail(slot));
    worker.on("exit", () => this.#fail(slot));
    return slot;
  }

  #fail(slot: Slot): void {
    for (const jobs of slot.inflight.values()) for (const job of jobs) job.resolve(false);
    slot.inflight.clear();
    slot.jobs = 0;
    const i = this.#slots.indexOf(slot);
    if (i >= 0 && !this.#closed) this.#slots[i] = this.#spawn();
  }

  /** The workers have more queued than they will finish soon: the caller should verify this one itself. */
  get saturated(): boolean {
    let pending = this.#queue.length;
    for (const slot of this.#slots) pending += slot.jobs;
    return pending >= BACKLOG_PER_THREAD * this.#threads;
  }

  /** True when `sig` is `data`'s Ed25519 signature under the raw public `key`. */
  verify(key: Uint8Array, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.#queue.push({ key, data, sig, resolve });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const jobs = this.#queue;
    this.#queue = [];
    if (jobs.length === 0) return;
    if (this.#slots.length === 0) this.#slots = Array.from({ length: this.#threads }, () => this.#spawn());
    // Spread the batch over the workers, least loaded first.
    const slots = [...this.#slots].sort((a, b) => a.jobs - b.jobs);
    const per = Math.ceil(jobs.length / slots.length);
    slots.forEach((slot, i) => {
      const part = jobs.slice(i * per, (i + 1) * per);
      if (part.length === 0) return;
      const id = this.#nextBatch++;
      slot.inflight.set(id, part);
      slot.jobs += part.length;
      slot.worker.postMessage({ id, jobs: part.map((j) => ({ key: j.key, data: j.data, sig: j.sig })) });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
