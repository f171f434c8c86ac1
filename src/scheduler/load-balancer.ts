/**
 * Choosing the executor slot a task runs on. Only healthy slots with spare capacity are eligible; the
 * strategy picks among them:
 * - RoundRobin: the next eligible slot after the last one chosen;
 * - LeastConnections: the slot with the fewest running tasks (ties: fewest ever assigned);
 * - WeightedRoundRobin: smooth weighted round robin (nginx's), so a weight-3 slot gets 3 of every 4 tasks
 *   against a weight-1 slot, interleaved rather than in bursts;
 * - ResourceBased: the slot whose running agents use the least measured CPU and memory (from a UsageProbe,
 *   i.e. the resource manager), ties broken by running tasks.
 */
import type { AgentId } from "../core/ids.js";
import type { LoadBalancingStrategy } from "../core/config/scheduler.js";
import type { UsageProbe } from "./types.js";

export interface ExecutorSlot {
  readonly id: string;
  readonly weight: number;
  capacity: number;
  active: number;
  assigned: number;
  healthy: boolean;
  /** Smooth-WRR running score. */
  current: number;
  /** Agents of the tasks running on this slot (an agent may appear once per task). */
  readonly agents: AgentId[];
}

export function makeSlots(count: number, capacityTotal: number, weights: readonly number[]): ExecutorSlot[] {
  const capacity = Math.ceil(capacityTotal / count);
  return Array.from({ length: count }, (_, i) => ({
    id: `executor-${i}`,
    weight: weights[i] ?? 1,
    capacity,
    active: 0,
    assigned: 0,
    healthy: true,
    current: 0,
    agents: [],
  }));
}

export class LoadBalancer {
  readonly #strategy: LoadBalancingStrategy;
  readonly #slots: readonly ExecutorSlot[];
  readonly #usage: UsageProbe | undefined;
  #cursor = -1;

  constructor(strategy: LoadBalancingStrategy, slots: readonly ExecutorSlot[], usage?: UsageProbe) {
    this.#strategy = strategy;
    this.#slots = slots;
    this.#usage = usage;
  }

  get strategy(): LoadBalancingStrategy {
    return this.#strategy;
  }

  /** Whether any slot can take a task now. */
  hasCapacity(): boolean {
    for (const s of this.#slots) if (s.healthy && s.active < s.capacity) return true;
    return false;
  }

  /** The slot the next task goes to, or undefined when none is eligible. */
  choose(): ExecutorSlot | undefined {
    switch (this.#strategy) {
      case "RoundRobin":
        return this.#roundRobin();
      case "LeastConnections":
        return this.#minBy((s) => s.active * 1e9 + s.assigned);
      case "WeightedRoundRobin":
        return this.#weighted();
      case "ResourceBased":
        return this.#minBy((s) => this.#load(s) * 1e6 + s.active);
    }
  }

  #eligible(s: ExecutorSlot): boolean {
    return s.healthy && s.active < s.capacity;
  }

  #roundRobin(): ExecutorSlot | undefined {
    const n = this.#slots.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.#cursor + k) % n;
      const s = this.#slots[i] as ExecutorSlot;
      if (this.#eligible(s)) {
        this.#cursor = i;
        return s;
      }
    }
    return undefined;
  }

  #minBy(score: (s: ExecutorSlot) => number): ExecutorSlot | undefined {
    let best: ExecutorSlot | undefined;
    let bestScore = Infinity;
    for (const s of this.#slots) {
      if (!this.#eligible(s)) continue;
      const v = score(s);
      if (v < bestScore) {
        best = s;
        bestScore = v;
      }
    }
    return best;
  }

  #weighted(): ExecutorSlot | undefined {
    let total = 0;
    let best: ExecutorSlot | undefined;
    for (const s of this.#slots) {
      if (!this.#eligible(s)) continue;
      s.current += s.weight;
      total += s.weight;
      if (!best || s.current > best.current) best = s;
    }
    if (best) best.current -= total;
    return best;
  }

  /**
   * Measured load of a slot: the CPU cores plus GiB of memory its running agents use. A slot running
   * nothing has load 0; an agent with no measurement yet counts as one task's worth (1).
   */
  #load(s: ExecutorSlot): number {
    let load = 0;
    for (const agent of s.agents) {
      const u = this.#usage?.usage(agent);
      load += u ? u.cpu_usage + u.memory_used / 2 ** 30 : 1;
    }
    return load;
  }
}
