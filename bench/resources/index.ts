/**
 * Resource manager costs.
 *
 * - allocate+deallocate of one agent through the real manager (validation, Authorizer, admission, the
 *   orchestrator asked for the agent's sandboxes, two events), against a floor measured in the same run: a
 *   Map write and delete with two awaited async calls and two event emits.
 * - one monitoring pass over 1,000 allocations, each with its own real cgroup (built here with the sandbox
 *   module's CgroupManager, not 1,000 sandboxes, and removed afterwards), against a floor measured in the
 *   same run: reading the same counters of the same cgroups in a bare loop.
 *
 * Each is reported in wall time and in this process's CPU time: on a shared, loaded machine the wall time is
 * mostly waiting for a core, the CPU time is the cost itself.
 *
 * Run: `npm run bench -- resources` (as root, on a host with cgroups)
 */
import { BuiltinAuthorizer } from "../../src/core/authorizer.js";
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { AgentId, SandboxId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { DEFAULT_RESOURCE_LIMITS } from "../../src/core/schemas.js";
import { createResourceManager, type ResourceSandboxes } from "../../src/resources/index.js";
import { CgroupManager, detectCgroupLayout, type SandboxCgroup } from "../../src/sandbox/cgroups.js";
import { createSandboxOrchestrator } from "../../src/sandbox/index.js";
import type { SandboxStatus } from "../../src/sandbox/types.js";
import { percentile, round, timeMs, type Metric } from "../lib.js";

/** CPU time (user + system) this process spent in `fn`, ms: unlike wall time, not inflated by other load. */
async function cpuMs(fn: () => Promise<void> | void): Promise<number> {
  const before = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(before);
  return (d.user + d.system) / 1000;
}
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

async function allocateDeallocate(metrics: Metric[], dataDir: string): Promise<void> {
  const clock = new SystemClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  // Something listens, as the audit trail will: events are built, not skipped.
  events.onAny(() => undefined);
  const config = resolveConfig({ data_dir: dataDir });
  const authorizer = new BuiltinAuthorizer();
  const sandboxes = await createSandboxOrchestrator({ config: config.sandbox, dataDir, clock, logger, events, authorizer });
  const manager = await createResourceManager({ config: config.resources, dataDir, clock, logger, events, authorizer, sandboxes });
  const N = 50_000;
  const ids = Array.from({ length: N }, () => AgentId.new());
  const limits = { ...DEFAULT_RESOURCE_LIMITS, memory_mb: 64, cpu_cores: 0.5 };
  for (let i = 0; i < 5_000; i++) {
    await manager.allocateResources(ids[i]!, limits);
    await manager.deallocateResources(ids[i]!);
  }
  const ms = await timeMs(async () => {
    for (const id of ids) {
      await manager.allocateResources(id, limits);
      await manager.deallocateResources(id);
    }
  });
  const map = new Map<AgentId, object>();
  const call = async (x: unknown) => x;
  const floor = await timeMs(async () => {
    for (const id of ids) {
      await call(id);
      await call(map.set(id, limits));
      events.emit("resource.allocated", { agent_id: id, limits });
      await call(map.delete(id));
      events.emit("resource.deallocated", { agent_id: id, limits });
    }
  });
  const cpu = await cpuMs(async () => {
    for (const id of ids) {
      await manager.allocateResources(id, limits);
      await manager.deallocateResources(id);
    }
  });
  const us = (ms * 1000) / N;
  metrics.push({ name: "allocate_deallocate", value: round(us, 3), unit: "us", target: "< 20" });
  metrics.push({ name: "allocate_deallocate_cpu_time", value: round((cpu * 1000) / N, 3), unit: "us", target: "< 20" });
  metrics.push({ name: "allocate_deallocate_vs_floor", value: round(us, 3), unit: "us", baseline: round((floor * 1000) / N, 3), ratio: round(ms / floor, 2) });
  await manager.shutdown();
  await sandboxes.shutdown();
}

async function monitoringPass(metrics: Metric[], dataDir: string): Promise<void> {
  const layout = detectCgroupLayout();
  if (typeof layout === "string" || process.getuid?.() !== 0) {
    console.warn(`[bench resources] monitoring pass skipped: ${typeof layout === "string" ? layout : "needs root"}`);
    return;
  }
  const cgroups = new CgroupManager(layout, "symbiont-bench");
  await cgroups.prepare();
  const N = 1_000;
  const boxes = new Map<SandboxId, SandboxCgroup>();
  const statuses: SandboxStatus[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const id = SandboxId.new();
      boxes.set(id, await cgroups.create(id, { memory_bytes: 64 * 1024 * 1024, cpu_cores: 0.5, pids: 64 }));
      statuses.push({ id, agent_id: AgentId.new(), tier: "Tier0", backend: "process", state: "Running", created_at: Date.now() });
    }
    // The orchestrator's part, answered from the cgroups directly: the bench measures the manager and the
    // cgroup reads, not the bookkeeping of 1,000 sandboxes.
    const sandboxes: ResourceSandboxes = {
      listSandboxes: async () => statuses,
      getSandboxUsage: async (id) => {
        const cg = boxes.get(id)!;
        const s = cg.sample();
        return { sandbox_id: id, memory_bytes: s.memory_bytes, memory_limit_bytes: cg.memoryLimit, cpu_time_ms: s.cpu_time_ms, pids: s.pids, ...(s.io_read_bytes === undefined ? {} : { io_read_bytes: s.io_read_bytes, io_write_bytes: s.io_write_bytes }), measured_at: Date.now() };
      },
      updateSandboxLimits: async (id) => ({ sandbox_id: id, killed: false }),
    };
    const clock = new SystemClock();
    const logger = silentLogger();
    const events = new RuntimeEvents(clock, logger);
    const config = resolveConfig({ data_dir: dataDir, resources: { total_cpu_cores: 1024, total_memory: 1024 * 1024 * 1024 * 1024, monitoring_interval: 3_600_000, rate_window: 10 } });
    const manager = await createResourceManager({ config: config.resources, dataDir, clock, logger, events, authorizer: new BuiltinAuthorizer(), sandboxes, startMonitoring: false });
    for (const s of statuses) await manager.allocateResources(s.agent_id, { ...DEFAULT_RESOURCE_LIMITS, memory_mb: 64, cpu_cores: 0.5, network_io_mbps: 0 });
    await manager.runMonitoringPass();
    const passes: number[] = [];
    const cpuPasses: number[] = [];
    const floors: number[] = [];
    for (let r = 0; r < 7; r++) {
      await new Promise((res) => setTimeout(res, 20));
      passes.push(await timeMs(() => manager.runMonitoringPass()));
      cpuPasses.push(await cpuMs(() => manager.runMonitoringPass()));
      floors.push(
        await timeMs(() => {
          for (const cg of boxes.values()) cg.sample();
        }),
      );
    }
    const pass = percentile([...passes].sort((a, b) => a - b), 50);
    const floor = percentile([...floors].sort((a, b) => a - b), 50);
    if ((await manager.getResourceHistory(statuses[0]!.agent_id, 3_600_000)).length < 14) throw new Error("the passes did not sample");
    metrics.push({ name: "monitoring_pass_1000_cgroups", value: round(pass, 2), unit: "ms", target: "< 50" });
    const cpuPass = percentile([...cpuPasses].sort((a, b) => a - b), 50);
    metrics.push({ name: "monitoring_pass_1000_cgroups_cpu_time", value: round(cpuPass, 2), unit: "ms", target: "< 50" });
    metrics.push({ name: "monitoring_pass_1000_cgroups_vs_raw_reads", value: round(pass, 2), unit: "ms", baseline: round(floor, 2), ratio: round(pass / floor, 2) });
    await manager.shutdown();
  } finally {
    for (const cg of boxes.values()) await cg.remove();
    await cgroups.close();
    await cgroups.removeParent();
  }
}

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];
  const dataDir = await mkdtemp(join(tmpdir(), "symbiont-bench-res-"));
  try {
    await allocateDeallocate(metrics, dataDir);
    await monitoringPass(metrics, dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  return metrics;
}
