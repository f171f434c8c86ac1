/**
 * Health checks of the executor slots: every interval each slot is probed (the runner's `probe`), with half
 * the interval to answer. A slot whose probe fails, throws or stays silent leaves rotation (the load balancer
 * skips it) until a later probe passes.
 */
import type { Clock, TimerHandle } from "../core/clock.js";
import type { EventStream } from "../core/events.js";
import type { Logger } from "../core/logger.js";
import "./events.js";
import type { ExecutorSlot } from "./load-balancer.js";

export interface ExecutorHealthDeps {
  readonly slots: readonly ExecutorSlot[];
  readonly probe: (executorId: string) => Promise<boolean>;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Called after each round (a slot back in rotation may take queued work). */
  readonly onRound: () => void;
}

export class ExecutorHealth {
  readonly #deps: ExecutorHealthDeps;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(deps: ExecutorHealthDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#timer = this.#deps.clock.setTimeout(() => {
      void this.#round().finally(() => {
        if (!this.#stopped) this.start();
      });
    }, this.#deps.intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#deps.clock.clearTimeout(this.#timer);
  }

  async #round(): Promise<void> {
    await Promise.all(this.#deps.slots.map((slot) => this.#check(slot)));
    this.#deps.onRound();
  }

  async #check(slot: ExecutorSlot): Promise<void> {
    const { clock, events, logger } = this.#deps;
    const deadline = Math.max(1, Math.floor(this.#deps.intervalMs / 2));
    let healthy = false;
    let reason = "probe returned false";
    let timer: TimerHandle | undefined;
    try {
      healthy = await Promise.race([
        this.#deps.probe(slot.id),
        new Promise<boolean>((resolve) => {
          timer = clock.setTimeout(() => {
            reason = `probe did not answer within ${deadline} ms`;
            resolve(false);
          }, deadline);
        }),
      ]);
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    } finally {
      clock.clearTimeout(timer);
    }
    if (healthy === slot.healthy) return;
    slot.healthy = healthy;
    if (healthy) events.emit("scheduler.executor_recovered", { executor_id: slot.id });
    else {
      logger.warn({ executor_id: slot.id, reason }, "executor left rotation");
      events.emit("scheduler.executor_unhealthy", { executor_id: slot.id, reason });
    }
  }
}
