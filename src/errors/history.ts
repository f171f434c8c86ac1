/**
 * Bounded error bookkeeping: a ring of records (system-wide and per agent, each at most max_error_history)
 * and the per-agent counters, failure window and recovery window the handler decides with.
 */
import type { AgentId } from "../core/ids.js";
import type { CircuitBreaker } from "./circuit-breaker.js";
import { ERROR_ACTION_TYPES, ERROR_TYPES, type ErrorActionType, type ErrorRecord, type ErrorThresholds, type ErrorType } from "./types.js";

/** The newest `capacity` records, oldest dropped first. */
export class ErrorLog {
  #items: (ErrorRecord | undefined)[];
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#items = new Array<ErrorRecord | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(r: ErrorRecord): void {
    this.#items[this.#next] = r;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  newest(): ErrorRecord | undefined {
    return this.#size === 0 ? undefined : this.#items[(this.#next - 1 + this.capacity) % this.capacity];
  }

  /** Oldest first. */
  all(): ErrorRecord[] {
    const out: ErrorRecord[] = [];
    const start = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(start + i) % this.capacity] as ErrorRecord);
    return out;
  }

  removeAgent(agentId: AgentId): void {
    const kept = this.all().filter((r) => r.agent_id !== agentId);
    this.clear();
    for (const r of kept) this.push(r);
  }

  clear(): void {
    this.#items = new Array<ErrorRecord | undefined>(this.capacity);
    this.#next = 0;
    this.#size = 0;
  }
}

/** One agent's error state. */
export class AgentErrors {
  readonly history: ErrorLog;
  total = 0;
  escalations = 0;
  byType: Record<ErrorType, number> = counters(ERROR_TYPES);
  actions: Record<ErrorActionType, number> = counters(ERROR_ACTION_TYPES);
  /** Monotonic times of failures inside the aggregation window (pruned as it slides). */
  failures: number[] = [];
  /** Monotonic times of Restart/Failover actions inside the window. */
  recoveries: number[] = [];
  thresholds: ErrorThresholds = {};

  constructor(
    maxHistory: number,
    readonly breaker: CircuitBreaker,
  ) {
    this.history = new ErrorLog(maxHistory);
  }

  noteFailure(now: number, window: number, type: ErrorType): void {
    this.total++;
    this.byType[type]++;
    this.failures.push(now);
    prune(this.failures, now, window);
  }

  recentCount(now: number, window: number): number {
    prune(this.failures, now, window);
    return this.failures.length;
  }

  recentRecoveries(now: number, window: number): number {
    prune(this.recoveries, now, window);
    return this.recoveries.length;
  }

  clear(): void {
    this.history.clear();
    this.total = 0;
    this.escalations = 0;
    this.byType = counters(ERROR_TYPES);
    this.actions = counters(ERROR_ACTION_TYPES);
    this.failures = [];
    this.recoveries = [];
    this.breaker.reset();
  }
}

function counters<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

function prune(times: number[], now: number, window: number): void {
  let drop = 0;
  while (drop < times.length && now - (times[drop] as number) >= window) drop++;
  if (drop) times.splice(0, drop);
}
