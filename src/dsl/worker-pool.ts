/**
 * A bounded pool of interpreter threads, reused across runs: starting a thread (and loading the
 * interpreter into it) costs far more than most bodies take to run. Each thread has a heap cap
 * (`resourceLimits`), so threads are kept per cap and a run gets a thread with its own. A run that is
 * stopped (wall-clock timeout, cancellation) terminates its thread, and a thread that dies (out of memory)
 * is dropped; the next run starts a fresh one. Runs beyond `maxWorkers` wait for a thread.
 *
 * @example
 * const pool = new DslWorkerPool({ maxWorkers: 4 });
 * const outcome = await pool.run(job, { memoryMb: 64, stop: controller.signal, onHost: (req, reply) => ... });
 * await pool.close();
 */
import { createHash } from "node:crypto";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { HostOp } from "./interpreter.js";
import type { HostReply, WorkerInit, WorkerJob, WorkerOutcome, WorkerReply } from "./worker.js";

export interface HostRequest {
  readonly op: HostOp;
  readonly args: Record<string, unknown>;
}

export interface PoolRunOptions {
  /** Heap cap of the thread, MB. */
  readonly memoryMb: number;
  /** Aborting it stops the run: its thread is terminated and `run` rejects with the signal's reason. */
  readonly stop: AbortSignal;
  /** Called when the run has a thread and starts (a run may first wait for one). */
  readonly onStart?: () => void;
  /** Serves one host call of the run; `reply` unblocks the interpreter. */
  readonly onHost: (request: HostRequest, reply: (r: HostReply) => void) => void;
}

interface Running {
  readonly id: number;
  readonly resolve: (r: WorkerOutcome) => void;
  readonly reject: (e: unknown) => void;
  readonly onHost: PoolRunOptions["onHost"];
}

interface Slot {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly flag: Int32Array;
  readonly memoryMb: number;
  current: Running | undefined;
  gone: boolean;
}

interface Waiter {
  readonly memoryMb: number;
  readonly resolve: (slot: Slot) => void;
  readonly reject: (e: unknown) => void;
}

let devWorker: Promise<URL> | undefined;

/**
 * The worker's entry file. Built output has `worker.js` beside this file. Run from TypeScript sources (tests,
 * tsx), the worker is bundled once with esbuild (a dev dependency through tsx) into a content-addressed file
 * in the temp dir: loading TypeScript inside each worker through a loader costs seconds per thread.
 */
async function workerUrl(): Promise<URL> {
  const js = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  devWorker ??= (async () => {
    const esbuild = await import("esbuild");
    const out = await esbuild.build({
      entryPoints: [fileURLToPath(new URL("./worker.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      write: false,
      logLevel: "silent",
    });
    const code = (out.outputFiles[0] as { text: string }).text;
    const file = join(tmpdir(), `symbiont-dsl-worker-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      writeFileSync(`${file}.${process.pid}`, code);
      renameSync(`${file}.${process.pid}`, file);
    }
    return pathToFileURL(file);
  })();
  return devWorker;
}

export class DslWorkerPool {
  readonly #max: number;
  readonly #slots = new Set<Slot>();
  readonly #waiters: Waiter[] = [];
  #url: URL | undefined;
  #nextId = 1;
  #closed = false;

  constructor(options: { readonly maxWorkers: number }) {
    this.#max = Math.max(1, options.maxWorkers);
  }

  /** Threads alive (busy or idle). */
  get size(): number {
    return this.#slots.size;
  }

  /** Runs `job` on a thread with the given heap cap; resolves to the thread's outcome. */
  async run(job: Omit<WorkerJob, "id">, options: PoolRunOptions): Promise<WorkerOutcome> {
    const { stop } = options;
    if (stop.aborted) throw stop.reason;
    this.#url ??= await workerUrl();
    const slot = await this.#acquire(options.memoryMb, stop);
    return new Promise<WorkerOutcome>((resolve, reject) => {
      const onStop = (): void => {
        slot.current = undefined;
        this.#destroy(slot);
        reject(stop.reason);
      };
      const done = (): void => stop.removeEventListener("abort", onStop);
      const id = this.#nextId++;
      slot.current = {
        id,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        onHost: options.onHost,
      };
      stop.addEventListener("abort", onStop, { once: true });
      if (stop.aborted) return onStop();
      if (slot.gone) return slot.current.reject(new Error("the interpreter thread exited before the run started"));
      slot.worker.ref();
      slot.port.ref();
      slot.worker.postMessage({ ...job, id } satisfies WorkerJob);
      options.onStart?.();
    });
  }

  /** Terminates every thread; runs still waiting for one are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(new Error("the DSL worker pool is closed"));
    const slots = [...this.#slots];
    for (const s of slots) {
      s.current?.reject(new Error("the DSL worker pool is closed"));
      s.current = undefined;
      this.#remove(s);
    }
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => undefined)));
  }

  #acquire(memoryMb: number, stop: AbortSignal): Promise<Slot> {
    if (this.#closed) return Promise.reject(new Error("the DSL worker pool is closed"));
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = {
        memoryMb,
        resolve: (s) => {
          stop.removeEventListener("abort", onStop);
          resolve(s);
        },
        reject,
      };
      const onStop = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(stop.reason);
      };
      stop.addEventListener("abort", onStop, { once: true });
      this.#waiters.push(waiter);
      this.#drain();
    });
  }

  /** Hands free threads (or new ones, within the bound) to waiting runs, oldest first. */
  #drain(): void {
    while (this.#waiters.length > 0 && !this.#closed) {
      const w = this.#waiters[0] as Waiter;
      let slot = [...this.#slots].find((s) => !s.current && !s.gone && s.memoryMb === w.memoryMb);
      if (!slot && this.#slots.size >= this.#max) {
        // An idle thread with another heap cap makes room for one with this run's cap.
        const other = [...this.#slots].find((s) => !s.current && !s.gone);
        if (!other) return;
        this.#remove(other);
      }
      slot ??= this.#spawn(w.memoryMb);
      this.#waiters.shift();
      slot.current = { id: 0, resolve: () => undefined, reject: () => undefined, onHost: () => undefined };
      w.resolve(slot);
    }
  }

  #spawn(memoryMb: number): Slot {
    const lock = new SharedArrayBuffer(4);
    const channel = new MessageChannel();
    const resourceLimits = { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: Math.min(32, Math.max(4, memoryMb / 8)), stackSizeMb: 4 };
    const init: WorkerInit = { lock, port: channel.port2 };
    const worker = new Worker(this.#url as URL, { workerData: init, transferList: [channel.port2], resourceLimits });
    const slot: Slot = { worker, port: channel.port1, flag: new Int32Array(lock), memoryMb, current: undefined, gone: false };
    this.#slots.add(slot);

    slot.port.on("message", (req: HostRequest) => {
      const run = slot.current;
      run?.onHost(req, (r) => this.#reply(slot, run, r));
    });
    worker.on("message", (r: WorkerReply) => {
      const run = slot.current;
      if (!run || run.id !== r.id) return;
      slot.current = undefined;
      this.#idle(slot);
      run.resolve(r);
    });
    worker.on("error", (e: Error) => {
      const run = slot.current;
      slot.current = undefined;
      this.#destroy(slot);
      run?.reject(e);
    });
    worker.on("exit", (code) => {
      const run = slot.current;
      slot.current = undefined;
      this.#destroy(slot);
      run?.reject(new Error(`the interpreter thread exited (code ${code}) without a result`));
    });
    return slot;
  }

  #reply(slot: Slot, run: Running, r: HostReply): void {
    if (slot.current !== run || slot.gone) return;
    try {
      slot.port.postMessage(r);
    } catch (e) {
      slot.port.postMessage({ ok: false, message: `host answer could not be passed to the agent: ${(e as Error).message}`, kind: "HostError" } satisfies HostReply);
    }
    Atomics.store(slot.flag, 0, 1);
    Atomics.notify(slot.flag, 0);
  }

  /** A thread between runs does not keep the process alive. */
  #idle(slot: Slot): void {
    slot.worker.unref();
    slot.port.unref();
    this.#drain();
  }

  #destroy(slot: Slot): void {
    this.#remove(slot);
    this.#drain();
  }

  #remove(slot: Slot): void {
    if (slot.gone) return;
    slot.gone = true;
    this.#slots.delete(slot);
    slot.port.close();
    void slot.worker.terminate();
  }
}
