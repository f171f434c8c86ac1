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
 * The batch buffer is shared, and each job starts with a claim word: whichever thread swaps it from 0 to 1
 * runs the check, so each runs exactly once. A caller with nothing else to do takes the newest unstarted
 * checks itself (workers take the oldest first): on a loaded machine a descheduled worker would otherwise
 * leave the caller idle, waiting for the end of the batch.
 *
 * Batch layout, per job: i32 claim | u32 data length | 32-byte public key | 64-byte signature | data, padded
 * to 4 bytes (claim words are Int32Array elements).
 */
import { Worker } from "node:worker_threads";
import { verifySignature } from "./key-store.js";

const KEY_BYTES = 32;
const SIG_BYTES = 64;
/** Claim word, data length, key and signature before each job's data. */
const JOB_HEADER = 8 + KEY_BYTES + SIG_BYTES;
/** Result code for a job the caller claimed before the worker reached it. */
const TAKEN = 2;

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
  const claims = new Int32Array(packed);
  const results = new Uint8Array(count);
  let verified = 0;
  let o = 0;
  for (let i = 0; i < count; i++) {
    const len = buf.readUInt32BE(o + 4);
    const next = o + ((${JOB_HEADER} + len + 3) & ~3);
    if (Atomics.compareExchange(claims, o >> 2, 0, 1) !== 0) {
      results[i] = ${TAKEN};
    } else {
      const key = buf.subarray(o + 8, o + ${8 + KEY_BYTES});
      const sig = buf.subarray(o + ${8 + KEY_BYTES}, o + ${JOB_HEADER});
      const data = buf.subarray(o + ${JOB_HEADER}, o + ${JOB_HEADER} + len);
      try {
        results[i] = verify(null, data, keyFor(key), sig) ? 1 : 0;
      } catch {
        results[i] = 0;
      }
      verified++;
    }
    o = next;
    Atomics.add(finished, 0, 1);
  }
  parentPort.postMessage({ id, results, verified, ms: performance.now() - start }, [results.buffer]);
});
`;

interface Job {
  readonly key: Uint8Array;
  readonly data: Uint8Array;
  readonly sig: Uint8Array;
  readonly resolve: (ok: boolean) => void;
}

/** Jobs posted to a worker together, over one shared buffer. */
interface Batch {
  readonly jobs: readonly Job[];
  /** the buffer as claim words; job i's claim is at `at[i]` */
  readonly claims: Int32Array;
  readonly at: readonly number[];
  /** jobs from here back to 0 may still be unclaimed; the caller takes them from the end */
  next: number;
  answered: boolean;
}

interface Slot {
  readonly worker: Worker;
  /** batches sent and not yet answered */
  readonly inflight: Map<number, Batch>;
  /** jobs sent, ever (int32, wrapping like `finished`) */
  posted: number;
  /** [0]: jobs the worker has finished, ever (it adds to it) */
  readonly finished: Int32Array;
}

/**
 * How far ahead the workers may be loaded, in inline verifications per thread: past it the caller verifies
 * on its own thread. Measured in time, not jobs, so a worker starved of CPU by other processes on the
 * machine (its time per job far above an inline check) is handed correspondingly fewer jobs. Well above
 * EAGER_BATCH, as checks queued for the next batch count too (at 8, a caller sealing a burst went inline for
 * nearly every arrival and left the worker idle); a caller that stops sending does not wait for the whole
 * backlog, as it takes the unstarted checks itself.
 */
const BACKLOG_PER_THREAD = 32;
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
  /** Posted batches the caller may still take jobs from, newest last. */
  #stealable: Batch[] = [];
  #stealScheduled = false;
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
    worker.on("message", ({ id, results, verified, ms }: { id: number; results: Uint8Array; verified: number; ms: number }) => {
      const batch = slot.inflight.get(id);
      if (!batch) return;
      slot.inflight.delete(id);
      batch.answered = true;
      if (verified > 0) this.#workerMs = average(this.#workerMs, ms / verified);
      batch.jobs.forEach((job, i) => {
        if (results[i] !== TAKEN) job.resolve(results[i] === 1);
      });
    });
    // A worker that dies fails its pending checks closed: the messages are rejected, never accepted.
    worker.on("error", () => this.#fail(slot));
    worker.on("exit", () => this.#fail(slot));
    return slot;
  }

  #fail(slot: Slot): void {
    // Jobs the caller took were answered as it took them: resolving those again changes nothing.
    for (const batch of slot.inflight.values()) {
      batch.answered = true;
      for (const job of batch.jobs) job.resolve(false);
    }
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
      const batch = pack(part);
      slot.inflight.set(id, batch);
      this.#stealable.push(batch);
      slot.posted = (slot.posted + part.length) | 0;
      slot.worker.postMessage({ id, packed: batch.claims.buffer, count: part.length });
    });
    // Answered batches leave from the front too, as workers answer oldest first: the list stays short.
    while (this.#stealable[0]?.answered) this.#stealable.shift();
    this.#scheduleSteal();
  }

  /** Once the caller's thread has run everything else it had, it takes one unstarted check. */
  #scheduleSteal(): void {
    if (this.#stealScheduled) return;
    this.#stealScheduled = true;
    setImmediate(() => {
      this.#stealScheduled = false;
      if (this.#steal()) this.#scheduleSteal();
    });
  }

  /** Runs the newest unstarted check here; false when there is none left. */
  #steal(): boolean {
    while (!this.#closed && this.#stealable.length > 0) {
      const batch = this.#stealable[this.#stealable.length - 1] as Batch;
      const i = batch.next--;
      // The worker works from the front: once it holds a job, it has (or had) every one before it too.
      if (batch.answered || i < 0 || Atomics.compareExchange(batch.claims, batch.at[i] as number, 0, TAKEN) !== 0) {
        this.#stealable.pop();
        continue;
      }
      const job = batch.jobs[i] as Job;
      job.resolve(this.inline(() => verifySignature(job.key, job.data, job.sig)));
      return true;
    }
    return false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}

function jobBytes(job: Job): number {
  return (JOB_HEADER + job.data.byteLength + 3) & ~3;
}

function pack(jobs: readonly Job[]): Batch {
  let size = 0;
  for (const j of jobs) size += jobBytes(j);
  const packed = new SharedArrayBuffer(size);
  const view = new DataView(packed);
  const bytes = new Uint8Array(packed);
  const at: number[] = [];
  let o = 0;
  for (const j of jobs) {
    at.push(o >> 2);
    view.setUint32(o + 4, j.data.byteLength);
    bytes.set(j.key, o + 8);
    bytes.set(j.sig, o + 8 + KEY_BYTES);
    bytes.set(j.data, o + JOB_HEADER);
    o += jobBytes(j);
  }
  return { jobs, claims: new Int32Array(packed), at, next: jobs.length - 1, answered: false };
}

/** Jobs sent to the slot's worker that it has not finished yet. */
function backlog(slot: Slot): number {
  return (slot.posted - (Atomics.load(slot.finished, 0) as number)) | 0;
}

function average(current: number, sample: number): number {
  return current === 0 ? sample : current + EWMA * (sample - current);
}
