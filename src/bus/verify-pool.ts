/**
 * Ed25519 verification on worker threads. Verifying is the most expensive step of receiving a message, and
 * it needs only public data (the sender's public key, the signed bytes and the signature), so it can run in
 * parallel with the main thread's signing, key derivation and AEAD work without any secret leaving it.
 * Requests travel to a worker in batches (a few at a time, or those made in the same turn of the event loop),
 * so the thread hop is paid per batch, and the batch is packed into one buffer that is transferred, not
 * cloned: cloning a view clones its whole backing store, and envelopes are views into Node's shared 8 KB
 * allocation slabs. Each worker counts the jobs it has finished in shared memory, so the caller sees the
 * workers' real backlog even while it is too busy to read their answers.
 *
 * Batch layout, per job: u32 data length | 32-byte public key | 64-byte signature | data.
 */
import { Worker } from "node:worker_threads";

// Plain CommonJS run with `eval`, so the pool works the same from TypeScript sources and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createPublicKey, verify } = require("node:crypto");
const finished = new Int32Array(workerData.finished);
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
parentPort.on("message", ({ id, packed, count }) => {
  const start = performance.now();
  const buf = Buffer.from(packed);
  const results = new Uint8Array(count);
  let o = 0;
  for (let i = 0; i < count; i++) {
    const len = buf.readUInt32BE(o);
    const key = buf.subarray(o + 4, o + 36);
    const sig = buf.subarray(o + 36, o + 100);
    const data = buf.subarray(o + 100, o + 100 + len);
    o += 100 + len;
    try {
      results[i] = verify(null, data, keyFor(key), sig) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
    Atomics.add(finished, 0, 1);
  }
  parentPort.postMessage({ id, results, ms: performance.now() - start }, [results.buffer]);
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
  /** jobs sent, ever (int32, wrapping like `finished`) */
  posted: number;
  /** [0]: jobs the worker has finished, ever (it adds to it) */
  readonly finished: Int32Array;
}

const KEY_BYTES = 32;
const SIG_BYTES = 64;

/**
 * How far ahead the workers may be loaded, in inline verifications per thread: past it the caller verifies
 * on its own thread. Measured in time, not jobs, so a worker starved of CPU by other processes on the
 * machine (its time per job far above an inline check) is handed correspondingly fewer jobs. Small, as a
 * caller that stops sending waits for the whole backlog.
 */
const BACKLOG_PER_THREAD = 8;
/**
 * Jobs posted as soon as this many are queued, without waiting for the end of the event-loop turn: a thread
 * hop costs about a tenth of one verification, so batches this size keep it small.
 */
const EAGER_BATCH = 8;
/** Weight of the newest sample in the moving averages of per-job cost. */
const EWMA = 0.2;

export class VerifyPool {
  readonly #threads: number;
  /** Spawned on first use: a runtime that never receives a message never starts a thread. */
  #slots: Slot[] = [];
  #queue: Job[] = [];
  #flushScheduled = false;
  #nextBatch = 1;
  #closed = false;
  /** Moving averages, in ms per job: a check on a worker (as the worker measured it) and on the caller's thread. */
  #workerMs = 0;
  #inlineMs = 0;

  constructor(threads: number) {
    this.#threads = threads;
  }

  #spawn(): Slot {
    const finished = new SharedArrayBuffer(4);
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { finished } });
    worker.unref();
    const slot: Slot = { worker, inflight: new Map(), posted: 0, finished: new Int32Array(finished) };
    worker.on("message", ({ id, results, ms }: { id: number; results: Uint8Array; ms: number }) => {
      const jobs = slot.inflight.get(id);
      if (!jobs) return;
      slot.inflight.delete(id);
      this.#workerMs = average(this.#workerMs, ms / jobs.length);
      jobs.forEach((job, i) => job.resolve(results[i] === 1));
    });
    // A worker that dies fails its pending checks closed: the messages are rejected, never accepted.
    worker.on("error", () => this.#fail(slot));
    worker.on("exit", () => this.#fail(slot));
    return slot;
  }

  #fail(slot: Slot): void {
    for (const jobs of slot.inflight.values()) for (const job of jobs) job.resolve(false);
    slot.inflight.clear();
    const i = this.#slots.indexOf(slot);
    if (i >= 0 && !this.#closed) this.#slots[i] = this.#spawn();
  }

  /**
   * The workers have more queued than they will finish soon: the caller should verify this one itself
   * (through `inline`). With nothing pending the workers always get the job, so their cost stays measured.
   */
  get saturated(): boolean {
    let pending = this.#queue.length;
    for (const slot of this.#slots) pending += backlog(slot);
    if (pending < 1) return false;
    const relative = this.#workerMs > 0 && this.#inlineMs > 0 ? this.#workerMs / this.#inlineMs : 1;
    return pending * Math.max(relative, 1) >= BACKLOG_PER_THREAD * this.#threads;
  }

  /** Runs a check on the caller's thread, timing it (what the workers' turnaround is compared against). */
  inline<T>(check: () => T): T {
    const start = performance.now();
    const result = check();
    this.#inlineMs = average(this.#inlineMs, performance.now() - start);
    return result;
  }

  /** True when `sig` is `data`'s Ed25519 signature under the raw public `key`. */
  verify(key: Uint8Array, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
    // Anything but a 32-byte key and a 64-byte signature cannot verify; the packed layout relies on both.
    if (this.#closed || key.byteLength !== KEY_BYTES || sig.byteLength !== SIG_BYTES) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.#queue.push({ key, data, sig, resolve });
      // A full batch goes at once, so the workers verify while this thread goes on sealing the sends after it.
      if (this.#queue.length >= EAGER_BATCH) this.#post();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // After the current macrotask, not the next microtask: sends of one batch interleave through microtasks,
        // and flushing there would post a message per envelope.
        setImmediate(() => {
          this.#flushScheduled = false;
          this.#post();
        });
      }
    });
  }

  #post(): void {
    const jobs = this.#queue;
    this.#queue = [];
    if (jobs.length === 0) return;
    if (this.#slots.length === 0) this.#slots = Array.from({ length: this.#threads }, () => this.#spawn());
    // Spread the batch over the workers, least loaded first.
    const slots = [...this.#slots].sort((a, b) => backlog(a) - backlog(b));
    const per = Math.ceil(jobs.length / slots.length);
    slots.forEach((slot, i) => {
      const part = jobs.slice(i * per, (i + 1) * per);
      if (part.length === 0) return;
      const id = this.#nextBatch++;
      slot.inflight.set(id, part);
      slot.posted = (slot.posted + part.length) | 0;
      const packed = pack(part);
      slot.worker.postMessage({ id, packed, count: part.length }, [packed]);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}

function pack(jobs: readonly Job[]): ArrayBuffer {
  let size = 0;
  for (const j of jobs) size += 4 + KEY_BYTES + SIG_BYTES + j.data.byteLength;
  const packed = new ArrayBuffer(size);
  const view = new DataView(packed);
  const bytes = new Uint8Array(packed);
  let o = 0;
  for (const j of jobs) {
    view.setUint32(o, j.data.byteLength);
    bytes.set(j.key, o + 4);
    bytes.set(j.sig, o + 4 + KEY_BYTES);
    bytes.set(j.data, o + 4 + KEY_BYTES + SIG_BYTES);
    o += 4 + KEY_BYTES + SIG_BYTES + j.data.byteLength;
  }
  return packed;
}

/** Jobs sent to the slot's worker that it has not finished yet. */
function backlog(slot: Slot): number {
  return (slot.posted - (Atomics.load(slot.finished, 0) as number)) | 0;
}

function average(current: number, sample: number): number {
  return current === 0 ? sample : current + EWMA * (sample - current);
}
