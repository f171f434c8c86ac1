/**
 * A running task's abort plumbing.
 */
import type { RuntimeError } from "../core/errors.js";

/**
 * The AbortController is made only if the runner asks for `ctx.signal`
 * (sandboxed runs do; in-process handlers use the cheaper `onAbort`), which keeps dispatch of small tasks fast.
 */
export class RunAbort {
  reason: RuntimeError | undefined;
  #controller: AbortController | undefined;
  #listeners: ((reason: RuntimeError) => void)[] | undefined;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.reason) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  onAbort(listener: (reason: RuntimeError) => void): () => void {
    if (this.reason) {
      listener(this.reason);
      return noop;
    }
    (this.#listeners ??= []).push(listener);
    return () => {
      const i = this.#listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.#listeners?.splice(i, 1);
    };
  }

  abort(reason: RuntimeError): void {
    if (this.reason) return;
    this.reason = reason;
    this.#controller?.abort(reason);
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const l of listeners) l(reason);
  }
}

function noop(): void {}
