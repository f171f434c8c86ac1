/**
 * The resource manager: admission control against the machine's totals less the reservation, limits pushed
 * live to the agent's sandboxes through the orchestrator, usage measured from the sandboxes' accounting
 * (cgroups for Tier0, the engine's stats for containers), a monitoring loop that samples every allocation
 * into a bounded history and evaluates violations, alerts (with hysteresis) and auto-scaling.
 */
import type { Authorizer } from "../core/authorizer.js";
import { authorize } from "../core/authorizer.js";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { ResourcesConfig } from "../core/config/index.js";
import { LifecycleError, ResourceError, ValidationError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { ResourceAllocation, ResourceLimits } from "../core/types.js";
import type { SandboxStatus, SandboxUsage } from "../sandbox/types.js";
import type { AllocationRepository } from "../store/types.js";
import { demandOf, Ledger, reservedOf, shortfallOf } from "./admission.js";
import "./events.js";
import { Allocation, checkLimits, NO_USAGE } from "./allocation.js";
import { availableMemory, CpuUtilization, diskOf, hostCores, hostMemory, loadAverage } from "./host.js";
import { limitOf, noSandboxUsage, sumReadings, toUsage, unitOf, usageOf, type Totals } from "./measure.js";
import {
  RESOURCE_KINDS,
  type MeasuredResourceUsage,
  type ResourceAmounts,
  type ResourceErrorReporter,
  type ResourceKind,
  type ResourceManager,
  type ResourceSandboxes,
  type ResourceSnapshot,
  type ResourceThresholds,
  type ResourceViolation,
  type SystemResourceStatus,
} from "./types.js";

export interface ResourceManagerDeps {
  readonly config: ResourcesConfig;
  /** Totals of the machine (memory, cores, disk of the data dir) filled in where the config leaves them. */
  readonly totals: ResourceAmounts;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly authorizer: Authorizer;
  /** Without it every agent reads as "no sandbox" and limits are booked only. */
  readonly sandboxes?: ResourceSandboxes;
  readonly errorReporter?: ResourceErrorReporter;
  /** With a durable state store: allocations are committed before they are acknowledged and restored at start. */
  readonly store?: AllocationRepository;
}

/** Agents measured at once in a monitoring pass. */
const MONITOR_CONCURRENCY = 16;

export class DefaultResourceManager implements ResourceManager {
  readonly #allocations = new Map<AgentId, Allocation>();
  readonly #ledger = new Ledger();
  readonly #reserved: ResourceAmounts;
  readonly #capacity: ResourceAmounts;
  readonly #cpu = new CpuUtilization();
  #diskAvailable: number;
  #reporter: ResourceErrorReporter | undefined;
  #killed: ResourceViolation[] = [];
  #timer: TimerHandle | undefined;
  #pass: Promise<void> | undefined;
  #closed = false;
  #shutdown: Promise<void> | undefined;
  readonly #unsubscribe: (() => void)[];

  constructor(private readonly deps: ResourceManagerDeps) {
    const t = deps.totals;
    this.#reserved = reservedOf(t, deps.config.resource_reservation_percentage);
    this.#capacity = {
      memory: t.memory - this.#reserved.memory,
      cpu_cores: t.cpu_cores - this.#reserved.cpu_cores,
      network_bandwidth: t.network_bandwidth - this.#reserved.network_bandwidth,
      disk_space: t.disk_space - this.#reserved.disk_space,
    };
    this.#diskAvailable = t.disk_space;
    this.#reporter = deps.errorReporter;
    const onKill = deps.events.on("sandbox.security_event", (e) => {
      const a = this.#allocations.get(e.agent_id);
      if (e.kind !== "oom_killed" || !a || a.updating > 0) return;
      const limit = limitOf(a.limits, "memory");
      void this.#raise(a, { kind: "killed", resource: "memory", limit, actual: limit, detail: e.detail });
    });
    // A sandbox made after the allocation (or after a live change or a scaling step) gets the allocation's
    // limits, not whatever its creator passed.
    const onCreate = deps.events.on("sandbox.created", (e) => {
      const a = this.#allocations.get(e.agent_id);
      const sandboxes = this.deps.sandboxes;
      if (!a || !sandboxes || this.#closed) return;
      void sandboxes.updateSandboxLimits(e.sandbox_id, a.limits).catch((err: unknown) => {
        this.deps.logger.error({ err, agent_id: e.agent_id, sandbox_id: e.sandbox_id }, "cannot apply the allocation's limits to a new sandbox");
      });
    });
    this.#unsubscribe = [onKill, onCreate];
  }

  /**
   * Books the allocations stored before a restart (their limits reach each agent's sandbox when it is made).
   * No admission: they were admitted once, and refusing one now would strand a running agent; on a machine
   * that shrank meanwhile, later admissions see the difference. Returns how many came back.
   */
  async restore(): Promise<number> {
    const stored = (await this.deps.store?.list()) ?? [];
    const { config } = this.deps;
    let restored = 0;
    for (const s of stored) {
      if (this.#allocations.has(s.agent_id)) continue;
      this.#allocations.set(s.agent_id, new Allocation(s.agent_id, s.allocated_at, s.limits, s.limits, config.history_size, config.rate_window));
      this.#ledger.add(demandOf(s.limits), 1);
      restored++;
    }
    return restored;
  }

  attachErrorReporter(reporter: ResourceErrorReporter): void {
    this.#reporter = reporter;
  }

  /** Starts the monitoring loop (every monitoring_interval on the clock). */
  start(): void {
    if (!this.#closed && !this.#timer) this.#schedule();
  }

  #schedule(): void {
    this.#timer = this.deps.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.runMonitoringPass()
        .catch((err: unknown) => this.deps.logger.error({ err }, "resource monitoring pass failed"))
        .finally(() => {
          if (!this.#closed) this.#schedule();
        });
    }, this.deps.config.monitoring_interval);
  }

  #checkOpen(): void {
    if (this.#closed) throw new LifecycleError("RUNTIME_SHUT_DOWN", "The resource manager has shut down");
  }

  #get(agentId: AgentId): Allocation {
    const a = this.#allocations.get(agentId);
    if (!a) throw new ResourceError("ALLOCATION_NOT_FOUND", `Agent ${agentId} has no resource allocation`, { details: { agent_id: agentId } });
    return a;
  }

  #admit(agentId: AgentId, limits: ResourceLimits, current: ResourceLimits | undefined): void {
    const request = demandOf(limits);
    const short = shortfallOf(
      this.#capacity,
      this.#ledger.held(),
      request,
      current && demandOf(current),
      this.#diskAvailable,
      this.#reserved.disk_space,
    );
    if (Object.keys(short).length === 0) return;
    const named = Object.entries(short).map(([k, v]) => `${k} short by ${v}`);
    throw new ResourceError("INSUFFICIENT_RESOURCES", `Resources for agent ${agentId} do not fit: ${named.join(", ")}`, {
      details: { agent_id: agentId, shortfall: short, requested: request, available: this.#available(), reserved: this.#reserved },
    });
  }

  #available(): ResourceAmounts {
    const held = this.#ledger.held();
    return {
      memory: Math.max(0, this.#capacity.memory - held.memory),
      cpu_cores: Math.max(0, this.#capacity.cpu_cores - held.cpu_cores),
      network_bandwidth: Math.max(0, this.#capacity.network_bandwidth - held.network_bandwidth),
      disk_space: Math.max(0, this.#diskAvailable - this.#reserved.disk_space),
    };
  }

  async allocateResources(agentId: AgentId, limits: ResourceLimits): Promise<ResourceAllocation> {
    this.#checkOpen();
    const checked = checkLimits(limits);
    await authorize(this.deps.authorizer, this.deps.events, { agent_id: agentId, action: "resource.allocate", context: { ...checked, update: false } });
    this.#checkOpen();
    // No await between the checks and the booking: two concurrent requests cannot both fit the same room.
    if (this.#allocations.has(agentId)) {
      throw new ResourceError("ALREADY_ALLOCATED", `Agent ${agentId} already has a resource allocation; update it instead`, { details: { agent_id: agentId } });
    }
    this.#admit(agentId, checked, undefined);
    const { config, clock } = this.deps;
    const a = new Allocation(agentId, clock.now(), checked, checked, config.history_size, config.rate_window);
    this.#allocations.set(agentId, a);
    this.#ledger.add(demandOf(checked), 1);
    try {
      await this.deps.store?.put(this.#allocation(a));
    } catch (err) {
      this.#allocations.delete(agentId);
      this.#ledger.add(demandOf(checked), -1);
      throw err;
    }
    try {
      await this.#push(a, checked, "allocation", true);
    } catch (err) {
      this.#allocations.delete(agentId);
      this.#ledger.add(demandOf(checked), -1);
      await this.deps.store?.remove(agentId).catch((e: unknown) => this.deps.logger.error({ err: e, agent_id: agentId }, "a refused allocation stays stored"));
      throw new ResourceError("ALLOCATION_FAILED", `Cannot apply resource limits to agent ${agentId}'s sandbox: ${(err as Error).message}`, {
        details: { agent_id: agentId },
        cause: err,
      });
    }
    this.deps.events.emit("resource.allocated", { agent_id: agentId, limits: checked });
    return this.#allocation(a);
  }

  /** The spec's view; `current_usage` is the latest sample (zeros until the first one). */
  #allocation(a: Allocation): ResourceAllocation {
    const u = a.last;
    return {
      agent_id: a.agent_id,
      allocated_at: a.allocated_at,
      limits: a.limits,
      current_usage: u
        ? { memory_used: u.memory_used, cpu_usage: u.cpu_usage, disk_io_rate: u.disk_io_rate, network_io_rate: u.network_io_rate, uptime: u.uptime }
        : NO_USAGE,
    };
  }

  getAllocation(agentId: AgentId): ResourceAllocation | undefined {
    const a = this.#allocations.get(agentId);
    return a && this.#allocation(a);
  }

  /** Pushes limits to every sandbox of the agent; a kill it causes is reported as a violation. */
  async #push(a: Allocation, limits: ResourceLimits, why: string, mayLower: boolean): Promise<boolean> {
    const sandboxes = this.deps.sandboxes;
    if (!sandboxes) return false;
    const statuses = await sandboxes.listSandboxes({ agent_id: a.agent_id });
    if (statuses.length === 0) return false;
    let killed = false;
    a.updating++;
    try {
      for (const s of statuses) {
        // Only a lowering can kill; reading usage first (a stats call on container tiers) is for its report.
        const before = mayLower ? await sandboxes.getSandboxUsage(s.id).catch(() => undefined) : undefined;
        const r = await sandboxes.updateSandboxLimits(s.id, limits);
        if (r.killed) {
          killed = true;
          const limit = limitOf(limits, "memory");
          await this.#raise(a, {
            kind: "killed",
            resource: "memory",
            limit,
            actual: before?.memory_bytes ?? limit,
            detail: `${why} set memory to ${limits.memory_mb} MiB${before ? `, below the ${before.memory_bytes} bytes in use` : ""} in sandbox ${s.id}: its processes were killed`,
          });
        }
      }
    } finally {
      a.updating--;
    }
    return killed;
  }

  /** Lifecycle hook: a terminated agent's allocation goes with it (from the store too), whoever terminated it. */
  async onTerminate(agent: { readonly id: AgentId }): Promise<void> {
    if (this.#allocations.has(agent.id)) await this.deallocateResources(agent.id);
  }

  async deallocateResources(agentId: AgentId): Promise<void> {
    this.#get(agentId);
    await this.deps.store?.remove(agentId);
    this.#release(agentId);
  }

  #release(agentId: AgentId): void {
    const a = this.#get(agentId);
    this.#allocations.delete(agentId);
    this.#ledger.add(demandOf(a.limits), -1);
    this.deps.events.emit("resource.deallocated", { agent_id: agentId, limits: a.limits });
  }

  async updateResourceLimits(agentId: AgentId, limits: ResourceLimits): Promise<void> {
    this.#checkOpen();
    const checked = checkLimits(limits);
    this.#get(agentId);
    await authorize(this.deps.authorizer, this.deps.events, { agent_id: agentId, action: "resource.allocate", context: { ...checked, update: true } });
    const a = this.#get(agentId);
    const from = a.limits;
    this.#admit(agentId, checked, from);
    const requested = a.requested;
    this.#setLimits(a, checked);
    a.requested = checked;
    try {
      await this.deps.store?.put(this.#allocation(a));
    } catch (err) {
      this.#setLimits(a, from);
      a.requested = requested;
      throw err;
    }
    let killed: boolean;
    try {
      killed = await this.#push(a, checked, "update", checked.memory_mb < from.memory_mb);
    } catch (err) {
      this.#setLimits(a, from);
      a.requested = requested;
      await this.deps.store?.put(this.#allocation(a)).catch((e: unknown) => this.deps.logger.error({ err: e, agent_id: agentId }, "the stored limits could not be put back"));
      throw new ResourceError("ALLOCATION_FAILED", `Cannot apply new limits to agent ${agentId}'s sandbox: ${(err as Error).message}`, {
        details: { agent_id: agentId },
        cause: err,
      });
    }
    this.deps.events.emit("resource.limits_updated", { agent_id: agentId, from, to: checked, killed });
  }

  #setLimits(a: Allocation, limits: ResourceLimits): void {
    this.#ledger.add(demandOf(a.limits), -1);
    this.#ledger.add(demandOf(limits), 1);
    a.limits = limits;
  }

  async #statuses(agentId?: AgentId): Promise<SandboxStatus[]> {
    const s = this.deps.sandboxes;
    return s ? s.listSandboxes(agentId === undefined ? {} : { agent_id: agentId }) : [];
  }

  /** Reads and sums the sandboxes' counters (a sandbox destroyed meanwhile is left out). */
  async #totals(statuses: readonly SandboxStatus[]): Promise<Totals> {
    const readings: SandboxUsage[] = [];
    const present: SandboxStatus[] = [];
    for (const s of statuses) {
      try {
        readings.push(await this.deps.sandboxes!.getSandboxUsage(s.id));
        present.push(s);
      } catch (err) {
        this.deps.logger.debug({ err, sandbox_id: s.id }, "sandbox gone while measuring");
      }
    }
    return sumReadings(present, readings);
  }

  async getResourceUsage(agentId: AgentId): Promise<MeasuredResourceUsage> {
    this.#checkOpen();
    const a = this.#get(agentId);
    const statuses = await this.#statuses(agentId);
    const { clock } = this.deps;
    if (statuses.length === 0) return (a.last = noSandboxUsage(clock.now()));
    let totals = await this.#totals(statuses);
    let rates = a.meter.update(totals, clock.monotonic());
    if (!rates) {
      // A rate needs two readings: wait one window for the second.
      await clock.sleep(this.deps.config.rate_window);
      totals = await this.#totals(statuses);
      rates = a.meter.update(totals, clock.monotonic()) ?? { cpu: 0, io: 0, net: 0 };
    }
    return (a.last = toUsage(totals, rates, clock.now()));
  }

  async #refreshDisk(): Promise<{ total: number; available: number }> {
    const disk = await diskOf(this.deps.dataDir);
    this.#diskAvailable = Math.min(disk.available, this.deps.totals.disk_space);
    return disk;
  }

  async getSystemResources(): Promise<SystemResourceStatus> {
    const disk = await this.#refreshDisk();
    const held = this.#ledger.held();
    return {
      measured_at: this.deps.clock.now(),
      host: {
        memory_total: hostMemory(),
        memory_available: availableMemory(),
        cpu_cores: hostCores(),
        cpu_utilization: this.#cpu.next(),
        load_average: loadAverage(),
        disk_total: disk.total,
        disk_available: disk.available,
        data_dir: this.deps.dataDir,
      },
      totals: this.deps.totals,
      reserved: this.#reserved,
      allocated: held,
      available: this.#available(),
      allocations: this.#allocations.size,
    };
  }

  async checkResourceViolations(): Promise<ResourceViolation[]> {
    this.#checkOpen();
    await this.runMonitoringPass();
    const killed = this.#killed;
    this.#killed = [];
    const out: ResourceViolation[] = [];
    for (const a of this.#allocations.values()) out.push(...a.active.values());
    return [...out, ...killed];
  }

  async setResourceAlerts(agentId: AgentId, thresholds: ResourceThresholds): Promise<void> {
    this.#checkOpen();
    const a = this.#get(agentId);
    const issues = Object.entries(thresholds).flatMap(([k, v]) => {
      if (!(RESOURCE_KINDS as readonly string[]).includes(k)) return [{ path: k, message: `unknown resource (one of ${RESOURCE_KINDS.join(", ")})` }];
      if (typeof v !== "number" || !(v > 0 && v <= 1000)) return [{ path: k, message: "must be a percentage above 0 and at most 1000" }];
      return [];
    });
    if (issues.length) throw new ValidationError("resource thresholds", issues);
    a.thresholds = { ...thresholds };
    a.rearmAll();
  }

  async getResourceHistory(agentId: AgentId, duration: number): Promise<ResourceSnapshot[]> {
    const a = this.#get(agentId);
    if (!(duration >= 0)) throw new ValidationError("history duration", [{ path: "duration", message: "must be a non-negative number of ms" }]);
    return a.history.since(this.deps.clock.now() - duration);
  }

  runMonitoringPass(): Promise<void> {
    return (this.#pass ??= this.#monitor().finally(() => (this.#pass = undefined)));
  }

  async #monitor(): Promise<void> {
    const { clock, sandboxes } = this.deps;
    // The disk figure gates admission only; refreshing it need not hold up the pass.
    void this.#refreshDisk().catch((err: unknown) => this.deps.logger.warn({ err }, "cannot measure the data dir's disk"));
    if (this.#allocations.size === 0) return;
    const byAgent = new Map<AgentId, SandboxStatus[]>();
    for (const s of await this.#statuses()) {
      if (!this.#allocations.has(s.agent_id)) continue;
      const list = byAgent.get(s.agent_id);
      if (list) list.push(s);
      else byAgent.set(s.agent_id, [s]);
    }
    const sample = async (a: Allocation): Promise<void> => {
      const statuses = byAgent.get(a.agent_id);
      let usage: MeasuredResourceUsage | undefined;
      if (!statuses || !sandboxes) {
        usage = noSandboxUsage(clock.now());
      } else {
        const totals = await this.#totals(statuses);
        const rates = a.meter.update(totals, clock.monotonic());
        // The first reading of a sandbox set only sets the baseline its rates are measured from.
        if (rates) usage = toUsage(totals, rates, clock.now());
      }
      if (!usage || !this.#allocations.has(a.agent_id)) return;
      a.last = usage;
      a.history.push({ agent_id: a.agent_id, timestamp: usage.measured_at, usage, limits: a.limits });
      if (usage.measured) await this.#evaluate(a, usage);
    };
    // A few agents at a time: a container engine's stats call takes a while, cgroup reads do not.
    const all = [...this.#allocations.values()];
    for (let i = 0; i < all.length; i += MONITOR_CONCURRENCY) await Promise.all(all.slice(i, i + MONITOR_CONCURRENCY).map(sample));
  }

  async #evaluate(a: Allocation, usage: MeasuredResourceUsage): Promise<void> {
    const { config } = this.deps;
    const tolerance = 1 + config.violation_tolerance_percentage / 100;
    for (const kind of RESOURCE_KINDS) {
      const limit = limitOf(a.limits, kind);
      // A rate limit of 0 means "not limited"; a figure the tier cannot measure is not judged.
      if (limit <= 0 || usage.unmeasured.includes(kind)) continue;
      const value = usageOf(usage, kind);
      if (value > limit * tolerance) {
        if (!a.active.has(kind)) {
          const detail = `${kind} at ${value.toFixed(kind === "cpu" ? 2 : 0)} ${unitOf(kind)} over the limit of ${limit}`;
          const v = await this.#raise(a, { kind: "over_limit", resource: kind, limit, actual: value, detail });
          a.active.set(kind, v);
        }
      } else {
        a.active.delete(kind);
      }
      this.#alert(a, kind, value, limit);
    }
    if (config.auto_scaling_enabled) await this.#autoscale(a, usage);
  }

  #alert(a: Allocation, kind: ResourceKind, value: number, limit: number): void {
    const threshold = a.thresholds[kind];
    if (threshold === undefined) return;
    const percent = (value / limit) * 100;
    if (a.isArmed(kind) && percent >= threshold) {
      a.setArmed(kind, false);
      this.deps.events.emit("resource.alert", { agent_id: a.agent_id, resource: kind, threshold, percent, value, limit });
    } else if (!a.isArmed(kind) && percent < threshold - this.deps.config.alert_hysteresis_percentage) {
      a.setArmed(kind, true);
      this.deps.events.emit("resource.alert_cleared", { agent_id: a.agent_id, resource: kind, threshold, percent });
    }
  }

  /** Raises memory and cpu limits of an agent above its threshold by one step, within ceiling and totals. */
  async #autoscale(a: Allocation, usage: MeasuredResourceUsage): Promise<void> {
    const { config } = this.deps;
    let next = a.limits;
    const steps: { resource: "memory" | "cpu"; from: number; to: number; ceiling: number }[] = [];
    const available = this.#available();
    for (const resource of ["memory", "cpu"] as const) {
      const limit = limitOf(a.limits, resource);
      const threshold = a.thresholds[resource] ?? config.auto_scaling_threshold_percentage;
      if ((usageOf(usage, resource) / limit) * 100 < threshold) continue;
      if (resource === "memory") {
        const base = a.requested.memory_mb;
        const ceiling = Math.floor(base * config.auto_scaling_max_factor);
        const room = Math.floor(available.memory / (1024 * 1024));
        const to = Math.min(a.limits.memory_mb + Math.max(1, Math.round((base * config.auto_scaling_step_percentage) / 100)), ceiling, a.limits.memory_mb + room);
        if (to > a.limits.memory_mb) {
          next = { ...next, memory_mb: to };
          steps.push({ resource, from: a.limits.memory_mb, to, ceiling });
        }
      } else {
        const base = a.requested.cpu_cores;
        const ceiling = base * config.auto_scaling_max_factor;
        const to = Math.min(a.limits.cpu_cores + (base * config.auto_scaling_step_percentage) / 100, ceiling, a.limits.cpu_cores + available.cpu_cores);
        if (to > a.limits.cpu_cores + 1e-9) {
          next = { ...next, cpu_cores: Math.round(to * 1000) / 1000 };
          steps.push({ resource, from: a.limits.cpu_cores, to: next.cpu_cores, ceiling });
        }
      }
    }
    if (steps.length === 0) return;
    this.#setLimits(a, next);
    // Scaling is the manager's own decision, acknowledged to nobody: stored behind it.
    void this.deps.store?.put(this.#allocation(a)).catch((err: unknown) => this.deps.logger.error({ err, agent_id: a.agent_id }, "scaled limits not stored"));
    try {
      await this.#push(a, next, "auto-scaling", false);
    } catch (err) {
      this.deps.logger.warn({ err, agent_id: a.agent_id }, "auto-scaling could not apply new limits");
      return;
    }
    for (const s of steps) this.deps.events.emit("resource.scaled", { agent_id: a.agent_id, ...s });
  }

  /** Emits the violation and, with enforcement on, hands it to the error handler as ResourceExhaustion. */
  async #raise(a: Allocation, v: Omit<ResourceViolation, "agent_id" | "detected_at" | "unit">): Promise<ResourceViolation> {
    const violation: ResourceViolation = { agent_id: a.agent_id, detected_at: this.deps.clock.now(), unit: unitOf(v.resource), ...v };
    if (v.kind === "killed") this.#killed.push(violation);
    const reporter = this.deps.config.enforcement_enabled ? this.#reporter : undefined;
    this.deps.events.emit("resource.violation", { ...violation, enforced: reporter !== undefined });
    if (!reporter) {
      if (this.deps.config.enforcement_enabled) this.deps.logger.warn({ violation }, "resource violation with no error handler attached");
      return violation;
    }
    const error = new ResourceError("USAGE_EXCEEDED", `Agent ${a.agent_id} exceeded its ${v.resource} limit: ${v.detail}`, {
      details: { ...violation, error_type: "ResourceExhaustion" },
    });
    try {
      const action = await reporter.handleError(a.agent_id, error);
      this.deps.events.emit("resource.enforced", { agent_id: a.agent_id, resource: v.resource, action: action.type });
    } catch (err) {
      this.deps.logger.error({ err, agent_id: a.agent_id }, "the error handler failed on a resource violation");
    }
    return violation;
  }

  shutdown(): Promise<void> {
    return (this.#shutdown ??= this.#doShutdown());
  }

  async #doShutdown(): Promise<void> {
    this.#closed = true;
    this.deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pass?.catch(() => undefined);
    for (const off of this.#unsubscribe) off();
    // Released here, kept in the store: the next start on a durable store books them again.
    for (const id of [...this.#allocations.keys()]) this.#release(id);
  }
}

export interface CreateResourceManagerOptions extends Omit<ResourceManagerDeps, "totals"> {
  /** Start the monitoring loop now (default true). */
  readonly startMonitoring?: boolean;
}

/**
 * Builds the manager with totals from the config, else from the machine (memory, cores, free disk of the
 * data dir), and starts its monitoring loop.
 *
 * @example
 * const resources = await createResourceManager({ config: config.resources, dataDir, clock, logger, events, authorizer, sandboxes });
 * await resources.allocateResources(agent.id, agent.config.resource_limits);
 */
export async function createResourceManager(options: CreateResourceManagerOptions): Promise<DefaultResourceManager> {
  const c = options.config;
  const disk = c.total_disk_space === undefined ? (await diskOf(options.dataDir)).available : c.total_disk_space;
  const totals: ResourceAmounts = {
    memory: c.total_memory ?? hostMemory(),
    cpu_cores: c.total_cpu_cores ?? hostCores(),
    network_bandwidth: c.total_network_bandwidth,
    disk_space: disk,
  };
  const manager = new DefaultResourceManager({ ...options, totals });
  if (options.startMonitoring !== false) manager.start();
  return manager;
}
