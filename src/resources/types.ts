/**
 * The ResourceManager contract (the spec's nine methods), its data types and the collaborators it works
 * through. The manager owns no connection and no host resource: it measures and limits sandboxes through
 * the orchestrator (`ResourceSandboxes`), hands violations to the error handler (`ResourceErrorReporter`),
 * and keeps allocations, bounded histories and alert state in memory.
 *
 * Units: memory in bytes (limits in `memory_mb`, MiB), cpu in cores, `disk_io_mbps` in MB/s (10^6 bytes),
 * `network_io_mbps` in Mbit/s (125,000 bytes/s), rates in bytes/s, durations ms, timestamps epoch ms.
 */
import type { RuntimeError } from "../core/errors.js";
import type { AgentId, SandboxId } from "../core/ids.js";
import type { ResourceAllocation, ResourceLimits, ResourceUsage } from "../core/types.js";
import type { SandboxOrchestrator } from "../sandbox/types.js";

/** The resources a limit, an alert or a violation is about. */
export type ResourceKind = "memory" | "cpu" | "disk_io" | "network_io";
export const RESOURCE_KINDS: readonly ResourceKind[] = ["memory", "cpu", "disk_io", "network_io"];

/**
 * Measured usage. `measured` is false when the agent has no sandbox: every figure is then a zero that means
 * "nothing to measure", not "measured zero". `unmeasured` names figures the agent's tier cannot account
 * (Tier0 has no per-sandbox network counters; a host without io accounting has no disk figures).
 */
export interface MeasuredResourceUsage extends ResourceUsage {
  readonly measured: boolean;
  readonly unmeasured: readonly ResourceKind[];
  /** The sandboxes summed into this reading. */
  readonly sandbox_ids: readonly SandboxId[];
  /** Processes alive in those sandboxes. */
  readonly pids: number;
  /** Epoch ms. */
  readonly measured_at: number;
}

/** Alert thresholds in percent of the agent's limit, per resource; a resource left out has no alert. */
export interface ResourceThresholds {
  readonly memory?: number;
  readonly cpu?: number;
  readonly disk_io?: number;
  readonly network_io?: number;
}

/**
 * An agent over a limit. `over_limit`: a measured figure above the limit (plus the tolerance); `killed`: the
 * kernel or a live limit change killed the agent's processes because memory ran out.
 */
export interface ResourceViolation {
  readonly agent_id: AgentId;
  readonly resource: ResourceKind;
  readonly kind: "over_limit" | "killed";
  /** In the resource's unit (`unit`). */
  readonly limit: number;
  readonly actual: number;
  readonly unit: "bytes" | "cores" | "bytes/s";
  readonly detected_at: number;
  readonly detail: string;
}

/** One sample of one agent's usage, as kept in its history. */
export interface ResourceSnapshot {
  readonly agent_id: AgentId;
  readonly timestamp: number;
  readonly usage: MeasuredResourceUsage;
  readonly limits: ResourceLimits;
}

/** Per-resource amounts: memory and disk in bytes, cpu in cores, network in bytes/s. */
export interface ResourceAmounts {
  readonly memory: number;
  readonly cpu_cores: number;
  readonly network_bandwidth: number;
  readonly disk_space: number;
}

/** The host as measured now, and the manager's books. */
export interface SystemResourceStatus {
  readonly measured_at: number;
  readonly host: {
    readonly memory_total: number;
    /** MemAvailable: what can be used without swapping. */
    readonly memory_available: number;
    readonly cpu_cores: number;
    /** Share of all cores busy since the previous call (0..1). */
    readonly cpu_utilization: number;
    readonly load_average: readonly [number, number, number];
    readonly disk_total: number;
    readonly disk_available: number;
    readonly data_dir: string;
  };
  /** The configured (or machine-derived) totals. */
  readonly totals: ResourceAmounts;
  /** Held back for the runtime (`resource_reservation_percentage`). */
  readonly reserved: ResourceAmounts;
  /** Sum of every allocation's limits (disk_space: 0, allocations carry no disk quota). */
  readonly allocated: Omit<ResourceAmounts, "disk_space">;
  /** What a new allocation may still take (disk_space: free disk above the reservation). */
  readonly available: ResourceAmounts;
  readonly allocations: number;
}

/** The orchestrator's part: find an agent's sandboxes, measure them, change their limits. */
export type ResourceSandboxes = Pick<SandboxOrchestrator, "listSandboxes" | "getSandboxUsage" | "updateSandboxLimits">;

/**
 * Where violations go when enforcement is on: the error handler (its `handleError` fits). The error is a
 * `ResourceError` USAGE_EXCEEDED with `details.error_type = "ResourceExhaustion"`; the returned action is
 * what the handler's strategy decided and carried out.
 */
export interface ResourceErrorReporter {
  handleError(agentId: AgentId, error: RuntimeError): Promise<{ readonly type: string }>;
}

export interface ResourceManager {
  /** Admission control, then applies the limits to the agent's sandboxes (if any). */
  allocateResources(agentId: AgentId, limits: ResourceLimits): Promise<ResourceAllocation>;
  deallocateResources(agentId: AgentId): Promise<void>;
  /** Applies live; memory below usage kills and reports a violation. */
  updateResourceLimits(agentId: AgentId, limits: ResourceLimits): Promise<void>;
  getResourceUsage(agentId: AgentId): Promise<MeasuredResourceUsage>;
  getSystemResources(): Promise<SystemResourceStatus>;
  /** Measures every allocation now; returns agents over a limit and kills since the previous call. */
  checkResourceViolations(): Promise<ResourceViolation[]>;
  setResourceAlerts(agentId: AgentId, thresholds: ResourceThresholds): Promise<void>;
  /** Samples of the last `duration` ms, oldest first. */
  getResourceHistory(agentId: AgentId, duration: number): Promise<ResourceSnapshot[]>;
  getAllocation(agentId: AgentId): ResourceAllocation | undefined;
  /** One monitoring pass (what the loop runs every monitoring_interval). */
  runMonitoringPass(): Promise<void>;
  /** Late wiring: the error handler is built after the resource manager. */
  attachErrorReporter(reporter: ResourceErrorReporter): void;
  /** Stops the loop and releases every allocation. Idempotent. */
  shutdown(): Promise<void>;
}
