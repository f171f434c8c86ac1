/**
 * One agent's circuit breaker. Closed: work flows and failures are counted. Open (threshold failures within
 * the window): work fails fast with CIRCUIT_OPEN. After `timeoutMs` it is half-open: one trial task is let
 * through; its success closes the breaker, its failure opens it again. A trial that neither succeeds nor
 * fails (cancelled) frees the half-open slot after another `timeoutMs`.
 */
import type { CircuitState } from "./types.js";

export class CircuitBreaker {
  #state: CircuitState = "Closed";
  #openedAt = 0;
  #trialAt: number | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** The state at monotonic time `now` (Open turns HalfOpen once the timeout has passed). */
  state(now: number): CircuitState {
    if (this.#state === "Open" && now - this.#openedAt >= this.timeoutMs) this.#state = "HalfOpen";
    return this.#state;
  }

  /** Whether a new task may be queued (only Open refuses). */
  accepting(now: number): boolean {
    return this.state(now) !== "Open";
  }

  /** Whether a task may start now; in HalfOpen this claims the one trial. */
  admit(now: number): boolean {
    const s = this.state(now);
    if (s === "Closed") return true;
    if (s === "Open") return false;
    if (this.#trialAt !== undefined && now - this.#trialAt < this.timeoutMs) return false;
    this.#trialAt = now;
    return true;
  }

  /** Records a failure; returns true when this failure opened the breaker. */
  failure(now: number, recentFailures: number, threshold: number): boolean {
    const s = this.state(now);
    if (s === "HalfOpen" || (s === "Closed" && recentFailures >= threshold)) {
      this.#state = "Open";
      this.#openedAt = now;
      this.#trialAt = undefined;
      return true;
    }
    return false;
  }

  /** Records a success; returns true when it closed a half-open breaker. */
  success(now: number): boolean {
    const was = this.state(now);
    if (was === "Closed") return false;
    if (was === "Open") return false;
    this.#state = "Closed";
    this.#trialAt = undefined;
    return true;
  }

  reset(): void {
    this.#state = "Closed";
    this.#trialAt = undefined;
  }
}
