/** One agent's allocation as the manager keeps it, and the hand check of its limits. */
import type { AgentId } from "../core/ids.js";
import { resourceLimitsSchema } from "../core/schemas.js";
import type { ResourceLimits } from "../core/types.js";
import { parseInput } from "../core/validation.js";
import { SnapshotRing } from "./history.js";
import { RateMeter } from "./measure.js";
import type { MeasuredResourceUsage, ResourceKind, ResourceThresholds, ResourceViolation } from "./types.js";

/** `current_usage` of an allocation not sampled yet. */
export const NO_USAGE = Object.freeze({ memory_used: 0, cpu_usage: 0, disk_io_rate: 0, network_io_rate: 0, uptime: 0 });

/** The schema's rules, checked by hand on the hot path; the schema itself names what is wrong. */
export function checkLimits(l: ResourceLimits): ResourceLimits {
  const ok =
    typeof l === "object" && l !== null &&
    Number.isInteger(l.memory_mb) && l.memory_mb > 0 && l.memory_mb <= 1024 * 1024 &&
    typeof l.cpu_cores === "number" && l.cpu_cores > 0 && l.cpu_cores <= 1024 &&
    Number.isInteger(l.disk_io_mbps) && l.disk_io_mbps >= 0 &&
    Number.isInteger(l.network_io_mbps) && l.network_io_mbps >= 0 &&
    Number.isInteger(l.execution_timeout) && l.execution_timeout > 0 &&
    Number.isInteger(l.idle_timeout) && l.idle_timeout >= 0 &&
    Object.keys(l).length === 6;
  // A copy: the caller's object may change after the call.
  return ok ? { ...l } : parseInput(resourceLimitsSchema, l, "resource limits");
}

/** One agent's allocation. Monitoring state is built on first use: allocate+deallocate stays cheap. */
export class Allocation {
  #history: SnapshotRing | undefined;
  #meter: RateMeter | undefined;
  /** Resources whose alert fired and has not re-armed yet. */
  #disarmed: Set<ResourceKind> | undefined;
  /** Over-limit violations in progress (reported once, when they begin). */
  #active: Map<ResourceKind, ResourceViolation> | undefined;
  thresholds: ResourceThresholds = {};
  last: MeasuredResourceUsage | undefined;
  /** Set while limits are being pushed: kills it causes are reported by the update itself. */
  updating = 0;

  constructor(
    readonly agent_id: AgentId,
    readonly allocated_at: number,
    public limits: ResourceLimits,
    /** What was asked for: the base of auto-scaling steps and ceilings. */
    public requested: ResourceLimits,
    private readonly historySize: number,
    private readonly rateWindow: number,
  ) {}

  get history(): SnapshotRing {
    return (this.#history ??= new SnapshotRing(this.historySize));
  }
  get meter(): RateMeter {
    return (this.#meter ??= new RateMeter(this.rateWindow));
  }
  get active(): Map<ResourceKind, ResourceViolation> {
    return (this.#active ??= new Map());
  }
  isArmed(kind: ResourceKind): boolean {
    return !this.#disarmed?.has(kind);
  }
  setArmed(kind: ResourceKind, armed: boolean): void {
    if (armed) this.#disarmed?.delete(kind);
    else (this.#disarmed ??= new Set()).add(kind);
  }
  rearmAll(): void {
    this.#disarmed = undefined;
  }
}

