import { totalmem } from "node:os";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import type { Authorizer } from "../core/authorizer.js";
import { ManualClock } from "../core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { RuntimeError } from "../core/errors.js";
import { RuntimeEvents, type RuntimeEvent } from "../core/events.js";
import { AgentId, SandboxId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { DEFAULT_RESOURCE_LIMITS } from "../core/schemas.js";
import type { ResourceLimits } from "../core/types.js";
import type { SandboxLimitUpdate, SandboxStatus, SandboxUsage } from "../sandbox/types.js";
import { createResourceManager } from "./default-resource-manager.js";
import type { ResourceErrorReporter, ResourceSandboxes } from "./types.js";

const MIB = 1024 * 1024;

/** An orchestrator stand-in whose counters the test sets: the manager's arithmetic is what is under test here. */
class ScriptedSandboxes implements ResourceSandboxes {
  readonly boxes = new Map<SandboxId, { status: SandboxStatus; usage: Omit<SandboxUsage, "sandbox_id" | "measured_at">; limits?: ResourceLimits }>();
  readonly updates: ResourceLimits[] = [];
  killOnLower = false;

  add(agent_id: AgentId, usage: Partial<SandboxUsage> = {}): SandboxId {
    const id = SandboxId.new();
    this.boxes.set(id, {
      status: { id, agent_id, tier: "Tier0", backend: "process", state: "Running", created_at: Date.UTC(2026, 0, 1) },
      usage: { memory_bytes: 0, memory_limit_bytes: 0, cpu_time_ms: 0, pids: 1, io_read_bytes: 0, io_write_bytes: 0, ...usage },
    });
    return id;
  }
  set(id: SandboxId, usage: Partial<SandboxUsage>): void {
    const b = this.boxes.get(id)!;
    b.usage = { ...b.usage, ...usage };
  }
  async listSandboxes(filter: { agent_id?: AgentId } = {}): Promise<SandboxStatus[]> {
    return [...this.boxes.values()].filter((b) => !filter.agent_id || b.status.agent_id === filter.agent_id).map((b) => b.status);
  }
  async getSandboxUsage(id: SandboxId): Promise<SandboxUsage> {
    return { sandbox_id: id, measured_at: 0, ...this.boxes.get(id)!.usage };
  }
  async updateSandboxLimits(id: SandboxId, limits: ResourceLimits): Promise<SandboxLimitUpdate> {
    this.updates.push(limits);
    const b = this.boxes.get(id)!;
    b.limits = limits;
    const killed = this.killOnLower && b.usage.memory_bytes > limits.memory_mb * MIB;
    if (killed) b.usage = { ...b.usage, memory_bytes: 0, pids: 0 };
    return { sandbox_id: id, killed };
  }
}

function limits(over: Partial<ResourceLimits> = {}): ResourceLimits {
  return { ...DEFAULT_RESOURCE_LIMITS, ...over };
}

async function setup(resources: RuntimeConfigInput["resources"] = {}, opts: { authorizer?: Authorizer; reporter?: ResourceErrorReporter } = {}) {
  const clock = new ManualClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const sandboxes = new ScriptedSandboxes();
  const config = resolveConfig({
    resources: { total_memory: 1000 * MIB, total_cpu_cores: 4, total_disk_space: 1024 * MIB, resource_reservation_percentage: 10, monitoring_interval: 1000, ...resources },
  }).resources;
  const manager = await createResourceManager({
    config,
    dataDir: tmpdir(),
    clock,
    logger,
    events,
    authorizer: opts.authorizer ?? { check: async () => ({ allowed: true }) },
    sandboxes,
    ...(opts.reporter ? { errorReporter: opts.reporter } : {}),
  });
  const of = <T extends RuntimeEvent["type"]>(type: T) => seen.filter((e) => e.type === type) as Extract<RuntimeEvent, { type: T }>[];
  return { clock, events, seen, of, sandboxes, manager };
}

async function codeOf(p: Promise<unknown>): Promise<RuntimeError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RuntimeError);
  return err as RuntimeError;
}

describe("resource manager - admission", () => {
  it("admission - refuses a request over capacity, naming the shortfall, and honours the reservation", async () => {
    const { manager } = await setup();
    // 1000 MiB total, 10% reserved: 900 MiB can be allocated, not 901.
    await manager.allocateResources(AgentId.new(), limits({ memory_mb: 600, cpu_cores: 1 }));
    await manager.allocateResources(AgentId.new(), limits({ memory_mb: 300, cpu_cores: 1 }));
    const err = await codeOf(manager.allocateResources(AgentId.new(), limits({ memory_mb: 1, cpu_cores: 1 })));
    expect(err.code).toBe("INSUFFICIENT_RESOURCES");
    const shortfall = err.details?.shortfall as Record<string, number>;
    expect(shortfall.memory).toBe(MIB);
    expect(shortfall.cpu_cores).toBeUndefined();
    // 4 cores less 10% = 3.6; 2 are held, so 1.6 fit and 2 do not.
    const cpu = await codeOf(manager.allocateResources(AgentId.new(), limits({ memory_mb: 0 + 1, cpu_cores: 1.7 })));
    expect((cpu.details?.shortfall as Record<string, number>).cpu_cores).toBeCloseTo(0.1, 3);
    await manager.shutdown();
  });

  it("admission - double allocation is an error; deallocation frees the room", async () => {
    const { manager, of } = await setup();
    const id = AgentId.new();
    await manager.allocateResources(id, limits({ memory_mb: 900 }));
    expect((await codeOf(manager.allocateResources(id, limits({ memory_mb: 1 })))).code).toBe("ALREADY_ALLOCATED");
    await manager.deallocateResources(id);
    expect((await codeOf(manager.deallocateResources(id))).code).toBe("ALLOCATION_NOT_FOUND");
    await manager.allocateResources(AgentId.new(), limits({ memory_mb: 900 }));
    expect(of("resource.allocated")).toHaveLength(2);
    expect(of("resource.deallocated").map((e) => e.agent_id)).toEqual([id]);
    await manager.shutdown();
  });

  it("admission - asks the authorizer and refuses on denial", async () => {
    const authorizer: Authorizer = { check: async (r) => ({ allowed: r.action !== "resource.allocate", reason: "no" }) };
    const { manager, of } = await setup({}, { authorizer });
    expect((await codeOf(manager.allocateResources(AgentId.new(), limits()))).code).toBe("POLICY_DENIED");
    expect(of("policy.denied")[0]?.action).toBe("resource.allocate");
    expect((await manager.getSystemResources()).allocations).toBe(0);
    await manager.shutdown();
  });

  it("admission - invalid limits are a validation error", async () => {
    const { manager } = await setup();
    expect((await codeOf(manager.allocateResources(AgentId.new(), limits({ memory_mb: -5 })))).code).toBe("VALIDATION_FAILED");
    await manager.shutdown();
  });

  it("update - applies to the sandbox, re-checks admission against the others", async () => {
    const { manager, sandboxes, of } = await setup();
    const a = AgentId.new();
    const b = AgentId.new();
    sandboxes.add(a);
    await manager.allocateResources(a, limits({ memory_mb: 400 }));
    expect(sandboxes.updates.at(-1)?.memory_mb).toBe(400);
    await manager.allocateResources(b, limits({ memory_mb: 400 }));
    await manager.updateResourceLimits(a, limits({ memory_mb: 500 }));
    expect(sandboxes.updates.at(-1)?.memory_mb).toBe(500);
    expect((await codeOf(manager.updateResourceLimits(a, limits({ memory_mb: 501 })))).code).toBe("INSUFFICIENT_RESOURCES");
    expect(manager.getAllocation(a)?.limits.memory_mb).toBe(500);
    expect(of("resource.limits_updated")[0]).toMatchObject({ from: { memory_mb: 400 }, to: { memory_mb: 500 }, killed: false });
    await manager.shutdown();
  });
});

describe("resource manager - usage and history", () => {
  it("usage - an agent with no sandbox reads zeros marked unmeasured", async () => {
    const { manager } = await setup();
    const id = AgentId.new();
    await manager.allocateResources(id, limits());
    const u = await manager.getResourceUsage(id);
    expect(u).toMatchObject({ measured: false, memory_used: 0, cpu_usage: 0, uptime: 0, sandbox_ids: [] });
    expect(u.unmeasured).toEqual(["memory", "cpu", "disk_io", "network_io"]);
    expect((await codeOf(manager.getResourceUsage(AgentId.new()))).code).toBe("ALLOCATION_NOT_FOUND");
    await manager.shutdown();
  });

  it("usage - rates come from counter changes over the measured window", async () => {
    const { manager, sandboxes, clock } = await setup();
    const id = AgentId.new();
    const box = sandboxes.add(id, { memory_bytes: 10 * MIB });
    await manager.allocateResources(id, limits());
    await manager.runMonitoringPass(); // baseline
    sandboxes.set(box, { cpu_time_ms: 500, io_read_bytes: 3_000_000 });
    await clock.advance(1000);
    const u = await manager.getResourceUsage(id);
    expect(u.measured).toBe(true);
    expect(u.cpu_usage).toBeCloseTo(0.5, 3);
    expect(u.disk_io_rate).toBeCloseTo(3_000_000, -3);
    expect(u.memory_used).toBe(10 * MIB);
    expect(u.unmeasured).toEqual(["network_io"]);
    await manager.shutdown();
  });

  it("history - the loop samples every interval into a bounded, windowed ring", async () => {
    const { manager, sandboxes, clock } = await setup({ history_size: 5 });
    const id = AgentId.new();
    const box = sandboxes.add(id);
    await manager.allocateResources(id, limits());
    for (let i = 1; i <= 10; i++) {
      sandboxes.set(box, { memory_bytes: i * MIB });
      await clock.advance(1000);
    }
    const all = await manager.getResourceHistory(id, 3_600_000);
    expect(all).toHaveLength(5);
    expect(all.map((s) => s.usage.memory_used / MIB)).toEqual([6, 7, 8, 9, 10]);
    const recent = await manager.getResourceHistory(id, 1500);
    expect(recent.map((s) => s.usage.memory_used / MIB)).toEqual([9, 10]);
    await manager.shutdown();
  });
});

describe("resource manager - violations, alerts, scaling", () => {
  it("alerts - fire once per upward crossing and re-arm below the hysteresis band", async () => {
    const { manager, sandboxes, clock, of } = await setup({ alert_hysteresis_percentage: 5 });
    const id = AgentId.new();
    const box = sandboxes.add(id);
    await manager.allocateResources(id, limits({ memory_mb: 100 }));
    await manager.setResourceAlerts(id, { memory: 80 });
    for (const pct of [50, 85, 90, 78, 95, 70, 81]) {
      sandboxes.set(box, { memory_bytes: pct * MIB });
      await clock.advance(1000);
    }
    // 85 fires; 90 and (78, inside the band) 95 do not; 70 re-arms; 81 fires again.
    expect(of("resource.alert").map((e) => Math.round(e.percent))).toEqual([85, 81]);
    expect(of("resource.alert_cleared")).toHaveLength(1);
    expect((await codeOf(manager.setResourceAlerts(id, { memory: 0 }))).code).toBe("VALIDATION_FAILED");
    await manager.shutdown();
  });

  it("auto-scaling - raises stepwise while above the threshold, then stops at the ceiling", async () => {
    const { manager, sandboxes, clock, of } = await setup({ auto_scaling_enabled: true, auto_scaling_step_percentage: 25, auto_scaling_max_factor: 2 });
    const id = AgentId.new();
    const box = sandboxes.add(id);
    await manager.allocateResources(id, limits({ memory_mb: 100, cpu_cores: 0.5 }));
    for (let i = 0; i < 8; i++) {
      const current = manager.getAllocation(id)!.limits.memory_mb;
      sandboxes.set(box, { memory_bytes: current * 0.95 * MIB });
      await clock.advance(1000);
    }
    expect(of("resource.scaled").map((e) => e.to)).toEqual([125, 150, 175, 200]);
    expect(manager.getAllocation(id)!.limits.memory_mb).toBe(200);
    expect(sandboxes.updates.at(-1)?.memory_mb).toBe(200);
    await manager.shutdown();
  });

  it("auto-scaling - never beyond the totals", async () => {
    const { manager, sandboxes, clock } = await setup({ auto_scaling_enabled: true, auto_scaling_max_factor: 4 });
    const id = AgentId.new();
    const box = sandboxes.add(id);
    await manager.allocateResources(id, limits({ memory_mb: 800 }));
    for (let i = 0; i < 5; i++) {
      sandboxes.set(box, { memory_bytes: manager.getAllocation(id)!.limits.memory_mb * 0.95 * MIB });
      await clock.advance(1000);
    }
    // 900 MiB can be allocated in all.
    expect(manager.getAllocation(id)!.limits.memory_mb).toBe(900);
    await manager.shutdown();
  });

  it("violations - reported once as an event and handed to the error handler, whose action is recorded", async () => {
    const received: { agent: AgentId; error: RuntimeError }[] = [];
    const reporter: ResourceErrorReporter = {
      handleError: async (agent, error) => {
        received.push({ agent, error });
        return { type: "Suspend" };
      },
    };
    const { manager, sandboxes, clock, of } = await setup({}, { reporter });
    const id = AgentId.new();
    const box = sandboxes.add(id);
    await manager.allocateResources(id, limits({ cpu_cores: 0.5, disk_io_mbps: 1 }));
    await clock.advance(1000);
    let cpu = 0;
    let io = 0;
    for (let i = 0; i < 3; i++) {
      cpu += 900; // 0.9 cores against 0.5
      io += 5_000_000; // 5 MB/s against 1
      sandboxes.set(box, { cpu_time_ms: cpu, io_read_bytes: io });
      await clock.advance(1000);
    }
    expect(of("resource.violation").map((e) => e.resource).sort()).toEqual(["cpu", "disk_io"]);
    expect(received).toHaveLength(2);
    expect(received[0]!.error.code).toBe("USAGE_EXCEEDED");
    expect(received[0]!.error.details?.error_type).toBe("ResourceExhaustion");
    expect(of("resource.enforced").map((e) => e.action)).toEqual(["Suspend", "Suspend"]);
    const now = await manager.checkResourceViolations();
    expect(now.map((v) => v.resource).sort()).toEqual(["cpu", "disk_io"]);
    expect(now.find((v) => v.resource === "cpu")!.actual).toBeCloseTo(0.9, 2);
    await manager.shutdown();
  });

  it("violations - with enforcement off they are events only", async () => {
    let calls = 0;
    const reporter: ResourceErrorReporter = { handleError: async () => (calls++, { type: "Terminate" }) };
    const { manager, sandboxes, clock, of } = await setup({ enforcement_enabled: false }, { reporter });
    const id = AgentId.new();
    const box = sandboxes.add(id);
    await manager.allocateResources(id, limits({ cpu_cores: 0.5 }));
    await clock.advance(1000);
    sandboxes.set(box, { cpu_time_ms: 2000 });
    await clock.advance(1000);
    expect(of("resource.violation")[0]).toMatchObject({ resource: "cpu", enforced: false });
    expect(calls).toBe(0);
    await manager.shutdown();
  });

  it("violations - lowering memory below usage kills and is reported; an OOM kill is reported too", async () => {
    const received: RuntimeError[] = [];
    const reporter: ResourceErrorReporter = { handleError: async (_a, e) => (received.push(e), { type: "Restart" }) };
    const { manager, sandboxes, events, of } = await setup({}, { reporter });
    sandboxes.killOnLower = true;
    const id = AgentId.new();
    const box = sandboxes.add(id, { memory_bytes: 100 * MIB });
    await manager.allocateResources(id, limits({ memory_mb: 200 }));
    await manager.updateResourceLimits(id, limits({ memory_mb: 50 }));
    expect(of("resource.limits_updated")[0]?.killed).toBe(true);
    expect(of("resource.violation")[0]).toMatchObject({ kind: "killed", resource: "memory", actual: 100 * MIB, enforced: true });
    events.emit("sandbox.security_event", { agent_id: id, sandbox_id: box, kind: "oom_killed", detail: "worker exceeded 50 MiB" });
    await new Promise((r) => setImmediate(r));
    expect(received.map((e) => e.details?.kind)).toEqual(["killed", "killed"]);
    const v = await manager.checkResourceViolations();
    expect(v.filter((x) => x.kind === "killed")).toHaveLength(2);
    expect((await manager.checkResourceViolations()).filter((x) => x.kind === "killed")).toHaveLength(0);
    await manager.shutdown();
  });
});

describe("resource manager - host and shutdown", () => {
  it("system - reports real host figures and the books", async () => {
    const { manager } = await setup();
    await manager.allocateResources(AgentId.new(), limits({ memory_mb: 100, cpu_cores: 1 }));
    const s = await manager.getSystemResources();
    expect(s.host.memory_total).toBe(totalmem());
    expect(s.host.memory_available).toBeGreaterThan(0);
    expect(s.host.disk_total).toBeGreaterThan(0);
    expect(s.host.load_average).toHaveLength(3);
    expect(s.reserved.memory).toBe(100 * MIB);
    expect(s.allocated).toMatchObject({ memory: 100 * MIB, cpu_cores: 1 });
    expect(s.available.memory).toBe(800 * MIB);
    await manager.shutdown();
  });

  it("system - totals default to the machine", async () => {
    const clock = new ManualClock();
    const logger = silentLogger();
    const manager = await createResourceManager({
      config: resolveConfig({}).resources,
      dataDir: tmpdir(),
      clock,
      logger,
      events: new RuntimeEvents(clock, logger),
      authorizer: { check: async () => ({ allowed: true }) },
      startMonitoring: false,
    });
    const s = await manager.getSystemResources();
    expect(s.totals.memory).toBe(totalmem());
    expect(s.totals.disk_space).toBeGreaterThan(0);
    expect(s.totals.disk_space).toBeLessThanOrEqual(s.host.disk_total);
    await manager.shutdown();
  });

  it("shutdown - stops the loop, releases every allocation, refuses further calls", async () => {
    const { manager, clock, of } = await setup();
    await manager.allocateResources(AgentId.new(), limits());
    expect(clock.pendingTimers).toBe(1);
    await manager.shutdown();
    await manager.shutdown();
    expect(clock.pendingTimers).toBe(0);
    expect(of("resource.deallocated")).toHaveLength(1);
    expect((await codeOf(manager.allocateResources(AgentId.new(), limits()))).code).toBe("RUNTIME_SHUT_DOWN");
  });
});
